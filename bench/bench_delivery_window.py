"""The at-least-once window of delivery, measured: for each message, the time from the moment the server
accepted it (aiosmtpd about to answer 250 to DATA; the webhook receiver about to answer 200) to the moment
our commit of "sent" returned. A kill -9 inside this window sends that message again on restart; outside
it, never. Real loopback servers, the real courier, SQLite file in WAL mode.

Run: python bench/bench_delivery_window.py [--messages 200]      (about 20 s)
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiosmtpd.controller import Controller  # noqa: E402

from monitor.channels import build_senders  # noqa: E402
from monitor.config import Config, DeliveryConfig, EmailChannel, FetchConfig, SlackChannel  # noqa: E402
from monitor.courier import Courier  # noqa: E402
from monitor.digest import build_message  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.store import Store  # noqa: E402

ACCEPTED: dict[tuple[str, str], float] = {}  # (channel, message id) -> server's acceptance
COMMITTED: dict[tuple[str, str], float] = {}


class Inbox:
    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        message_id = envelope.content.split(b"Message-ID: <", 1)[1].split(b".", 1)[0].decode()
        ACCEPTED[("email", message_id)] = time.monotonic()
        return "250 OK"


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message_id = body.split(b"bench-", 1)[1][:12].decode()
        ACCEPTED[("slack", message_id)] = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class TimedStore(Store):
    """The store, noting when each "sent" commit returned (the bench's only instrument)."""

    def record_sent(self, message_id, channel, now, recipients=None):
        super().record_sent(message_id, channel, now, recipients)
        COMMITTED[(channel, message_id)] = time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    with socket.socket() as probe:  # aiosmtpd needs a port number up front
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    web = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(path=Path(tmp) / "monitor.yaml", state_dir=Path(tmp),
                        fetch=FetchConfig(allow_private_networks=True),
                        delivery=DeliveryConfig(round_budget=600), channels=[
                            EmailChannel(type="email", host="127.0.0.1", port=smtp_port,
                                         tls="none", **{"from": "m@example.org"}, to=["a@example.org"]),
                            SlackChannel(type="slack", webhook_url=f"http://127.0.0.1:{web.server_address[1]}/hook")])
        fetcher = Fetcher(config.fetch)
        store = TimedStore(Store.open(Path(tmp) / "monitor.db").db)
        for _ in range(args.messages):
            message = build_message("alert", [], datetime.now(UTC))
            message.data["subject"] = message.data["header"] = f"bench-{message.id}"
            store.save_message(message, [], ["email", "slack"])
        started = time.monotonic()
        report = Courier(build_senders(config, fetcher), config.delivery, lambda: datetime.now(UTC)).run(store)
        elapsed = time.monotonic() - started
    smtp.stop()
    web.shutdown()
    print(f"{report.delivered} deliveries in {elapsed:.1f} s ({len(report.errors)} errors)")
    for channel in ("email", "slack"):
        windows = sorted((COMMITTED[k] - ACCEPTED[k]) * 1000 for k in COMMITTED if k[0] == channel and k in ACCEPTED)
        print(f"{channel}: window from acceptance to commit: median {statistics.median(windows):.2f} ms, "
              f"p95 {windows[int(len(windows) * 0.95)]:.2f} ms, max {windows[-1]:.2f} ms (n={len(windows)})")


if __name__ == "__main__":
    main()
