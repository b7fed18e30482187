"""Shared fixtures: a real HTTP server on 127.0.0.1 serving the fixture site (and any extra routes a
test adds), config files written into a temp dir, and the path to ../shared when it is present."""

from __future__ import annotations

import email
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SITE = FIXTURES / "site"
SHARED = ROOT.parent / "shared"

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


def _handler_class(site: SiteServer):
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


@pytest.fixture
def make_server() -> Iterator[Callable[[Path | None], SiteServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(root: Path | None = SITE) -> SiteServer:
        site = SiteServer(root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(site))
        server.daemon_threads = True
        site.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site(make_server) -> SiteServer:
    """The fixture news site on a fresh loopback port."""
    return make_server(SITE)


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a monitor.yaml into tmp_path (rules copied from the repo unless rules_dir is given)."""

    def write(feeds: list[dict], channels: list[dict] | None = None, rules_dir: Path | None = None,
              **extra: object) -> Path:
        if rules_dir is None:
            rules_dir = tmp_path / "rules"
            if not rules_dir.exists():
                rules_dir.mkdir()
                for rule_file in (ROOT / "rules").glob("*.yaml"):
                    (rules_dir / rule_file.name).write_bytes(rule_file.read_bytes())
        data = {"state_dir": "state", "rules_dir": str(rules_dir), "feeds": feeds,
                "fetch": {"allow_private_networks": True, "deadline": 10, **extra.pop("fetch", {})},
                "channels": channels or [{"type": "file"}],
                # the fixtures replay news of 2025-2026: the stale-news guard would hold every alert back
                "alerts": {"max_age": "off"}, **extra}
        path = tmp_path / "monitor.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def shared() -> Path:
    """../shared beside the checkout; tests that need it skip cleanly where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present beside the checkout")
    return SHARED


@pytest.fixture
def second_loopback_site() -> Iterator[SiteServer]:
    """A site server on 127.0.0.2 (Linux routes all of 127/8 to loopback): a host the address-policy
    tests allow through fetch.allow_networks while 127.0.0.1 stays refused."""
    site = SiteServer(None)
    server = ThreadingHTTPServer(("127.0.0.2", 0), _handler_class(site))
    server.daemon_threads = True
    site.base = f"http://127.0.0.2:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield site
    server.shutdown()
    server.server_close()


class SMTPInbox:
    """An aiosmtpd handler keeping each mail, parsed, and its bytes exactly as they arrived (`raw`)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.raw.append(envelope.content)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_inbox():
    """A real SMTP server on 127.0.0.1: yields (inbox, port); inbox.messages holds the parsed mails."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = SMTPInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()
