"""Real loopback servers for the tests: the fixture site over HTTP (SiteServer, with routes a test adds), an
SMTP server (aiosmtpd) that keeps each mail or answers each recipient as scripted, a TCP server that accepts
connections and never says a word, a webhook script that answers each POST with the next scripted status,
headers and body, and an HTTP receiver that keeps every request."""

from __future__ import annotations

import email
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the fixture site over HTTP ---------------------------------------------------------------------------

# A handler answers (status, headers, body) for a request; tests register them per path.
Handler = Callable[["RequestInfo"], tuple[int, dict[str, str], bytes]]


@dataclass
class RequestInfo:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class SiteServer:
    """A loopback HTTP server: files under `root` ({base} replaced), plus routes set by the test."""

    root: Path | list[Path] | None  # a list is searched in order: later rounds over earlier ones
    base: str = ""
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[RequestInfo] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, handler: Handler | tuple[int, dict[str, str], bytes]) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _req, h=handler: h)

    def hits_for(self, path: str) -> list[RequestInfo]:
        return [r for r in self.requests if r.path == path]

    def answer(self, info: RequestInfo) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(info)
        path = info.path.split("?")[0]
        if info.path in self.routes:
            return self.routes[info.path](info)
        if path in self.routes:
            return self.routes[path](info)
        roots = self.root if isinstance(self.root, list) else [self.root] if self.root is not None else []
        for root in roots:  # layered: the first root that has the file serves it
            file = (root / path.lstrip("/")).resolve()
            if file.is_file() and root.resolve() in file.parents:
                body = file.read_bytes().replace(b"{base}", self.base.encode())
                etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
                if info.headers.get("if-none-match") == etag:
                    return 304, {"ETag": etag}, b""
                return 200, {"Content-Type": _content_type(file.suffix), "ETag": etag}, body
        return 404, {"Content-Type": "text/html"}, b"<html><body><h1>Not found</h1></body></html>"


def _content_type(suffix: str) -> str:
    return {".xml": "application/rss+xml", ".rdf": "application/rdf+xml", ".atom": "application/atom+xml",
            ".html": "text/html; charset=utf-8", ".json": "application/feed+json"}.get(suffix,
                                                                                        "application/octet-stream")


def handler_class(site: SiteServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            info = RequestInfo(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            status, headers, payload = site.answer(info)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


def serve_site(site: SiteServer, host: str = "127.0.0.1",
               server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer) -> ThreadingHTTPServer:
    """Serve `site` on a fresh port of `host` from a daemon thread; sets site.base. The caller shuts it down."""
    server = server_class((host, 0), handler_class(site))
    server.daemon_threads = True
    site.base = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


# -- mail ----------------------------------------------------------------------------------------------------


class SMTPInbox:
    """An aiosmtpd handler keeping each mail, parsed, and its bytes exactly as they arrived (`raw`)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.raw.append(envelope.content)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class ScriptedInbox:
    """An aiosmtpd handler: RCPT answered from `refuse` (address -> reply, e.g. "550 5.1.1 no such
    user"), every accepted mail kept with its envelope recipients and the moment it was accepted."""

    def __init__(self, refuse: dict[str, str] | None = None, data_delay: float = 0.0):
        self.refuse = dict(refuse or {})
        self.data_delay = data_delay
        self.mails: list[tuple[list[str], email.message.EmailMessage]] = []
        self.rcpt_asked: list[str] = []
        self.accepted_at: list[float] = []
        self.spans: list[tuple[float, float]] = []  # per mail: when its DATA was in, when the server answered

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd hook
        self.rcpt_asked.append(address)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        received = time.monotonic()
        if self.data_delay:
            time.sleep(self.data_delay)  # a slow server: a kill lands mid-send more often
        self.mails.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=policy.default)))
        self.accepted_at.append(time.monotonic())
        self.spans.append((received, self.accepted_at[-1]))
        return "250 OK queued"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [mail for rcpts, mail in self.mails if address in rcpts]


@contextmanager
def smtp_server(inbox: ScriptedInbox | SMTPInbox, port: int | None = None) -> Iterator[int]:
    controller = Controller(inbox, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


class HungServer:
    """Accepts TCP connections and never answers: an SMTP server that hangs after the handshake.
    `open_connections` counts connections the client has not closed yet."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections.append(conn)

    @property
    def open_connections(self) -> int:
        count = 0
        for conn in self.connections:
            conn.setblocking(False)
            try:
                count += conn.recv(1, socket.MSG_PEEK) != b""  # b"": the client closed it
            except BlockingIOError:
                count += 1  # nothing to read and not closed: still open
            except OSError:
                pass
        return count

    def close(self) -> None:
        self._stop.set()
        for conn in self.connections:
            conn.close()
        self.sock.close()


class WebhookScript:
    """A webhook route answering each POST with the next scripted (status, headers, body); the last
    answer repeats. Used as a SiteServer route handler."""

    def __init__(self, *answers: tuple[int, dict[str, str], bytes], delay: float = 0.0):
        self.answers = list(answers)
        self.delay = delay
        self.posts: list[bytes] = []
        self.accepted_at: list[float] = []
        self.spans: list[tuple[float, float]] = []  # per post: when it came in, when it was answered

    def __call__(self, info) -> tuple[int, dict[str, str], bytes]:
        if info.method != "POST":
            return 405, {}, b""
        received = time.monotonic()
        if self.delay:
            time.sleep(self.delay)
        self.posts.append(info.body)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer[0] < 300:
            self.accepted_at.append(time.monotonic())
        self.spans.append((received, time.monotonic()))
        return answer


class Receiver:
    """An HTTP receiver on loopback (webhooks, Apprise's json://, ntfy://, Discord-style fluxer://) that keeps
    every request (path, lower-cased headers, body) and answers each with `answer(path, headers, body)`:
    (status, body) or (status, body, headers) — default 200 `{}`. Started on a given port, it can play a
    receiver that was down and comes up."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, answer=None):
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answer = answer or (lambda path, headers, body: (200, b"{}"))
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((self.path, headers, body))
                status, payload, *extra = receiver.answer(self.path, headers, body)
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
