"""The at-least-once window of delivery, measured: for each message, the time from the moment the server
accepted it (aiosmtpd about to answer 250 to DATA; the webhook receiver about to answer 200) to the moment
the acceptance was written to the journal (monitor/journal.py; from then on a kill -9 does not send it again),
and to the moment our commit of "sent" returned. Real loopback servers, the real courier, SQLite file in WAL mode.

--writer SECONDS adds what the service has beside its delivery thread: another connection writing to the same
database in transactions of that length back to back (a poll cycle storing batches of articles, 0.1-0.3 s each),
doing Python work in the same process meanwhile. The commit then waits for the lock; the journal does not.

Run: python bench/bench_delivery_window.py [--messages 200] [--writer 0.2]      (about 20 s; with --writer longer)
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
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

from monitor import courier  # noqa: E402
from monitor.channels import build_senders  # noqa: E402
from monitor.config import Config, DeliveryConfig, EmailChannel, FetchConfig, SlackChannel  # noqa: E402
from monitor.digest import build_message  # noqa: E402
from monitor.fetch import Fetcher  # noqa: E402
from monitor.journal import Journal  # noqa: E402
from monitor.store import Store  # noqa: E402

ACCEPTED: dict[tuple[str, str], float] = {}  # (channel, message id) -> server's acceptance
JOURNALED: dict[tuple[str, str], float] = {}
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


def timed_record_sent(record_sent):
    """Store.record_sent, noting when each "sent" commit returned (the bench's instruments: this and TimedJournal;
    each channel's thread opens its own Store, so the class's method is the one wrapped)."""

    def timed(self, message_id, channel, now, recipients=None):
        record_sent(self, message_id, channel, now, recipients)
        COMMITTED[(channel, message_id)] = time.monotonic()

    return timed


class TimedJournal(Journal):
    """The journal, noting when each acceptance's write returned."""

    def _write(self, line: bytes) -> None:
        super()._write(line)
        entry = line.split(b'"message_id": "', 1)[1].split(b'"', 1)[0].decode()
        channel = line.split(b'"channel": "', 1)[1].split(b'"', 1)[0].decode()
        JOURNALED[(channel, entry)] = time.monotonic()


def writer(database: Path, hold: float, stop: threading.Event) -> None:
    """Write transactions of `hold` seconds back to back, Python work inside (a poll cycle's store stage)."""
    conn = sqlite3.connect(database, timeout=30, isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS bench_busy (x)")
    while not stop.is_set():
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_busy VALUES (1)")
        begun = time.monotonic()
        while time.monotonic() - begun < hold:
            sum(i * i for i in range(1000))
        conn.execute("COMMIT")
        time.sleep(0.005)  # the next batch's extraction results are at hand
    conn.close()


def spread(windows: list[float]) -> str:
    windows = sorted(windows)
    return (f"median {statistics.median(windows):.2f} ms, p95 {windows[int(len(windows) * 0.95)]:.2f} ms, "
            f"max {windows[-1]:.2f} ms (n={len(windows)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--writer", type=float, default=0.0, help="seconds per write transaction beside delivery")
    args = parser.parse_args()
    courier.Journal = TimedJournal  # the courier's own journal, with a stopwatch
    Store.record_sent = timed_record_sent(Store.record_sent)
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
        store = Store.open(Path(tmp) / "monitor.db")
        for _ in range(args.messages):
            message = build_message("alert", [], datetime.now(UTC))
            message.data["subject"] = message.data["header"] = f"bench-{message.id}"
            store.save_message(message, [], ["email", "slack"])
        stop = threading.Event()
        busy = threading.Thread(target=writer, args=(Path(tmp) / "monitor.db", args.writer, stop))
        if args.writer:
            busy.start()
        started = time.monotonic()
        report = courier.Courier(build_senders(config, fetcher), config.delivery, lambda: datetime.now(UTC)).run(store)
        elapsed = time.monotonic() - started
        stop.set()
        if args.writer:
            busy.join()
    smtp.stop()
    web.shutdown()
    print(f"{report.delivered} deliveries in {elapsed:.1f} s ({len(report.errors)} errors)"
          + (f", beside a writer holding the lock {args.writer:g} s at a time" if args.writer else ""))
    for channel in ("email", "slack"):
        for name, moments in (("journal write (the window)", JOURNALED), ("commit", COMMITTED)):
            windows = [(moments[k] - ACCEPTED[k]) * 1000 for k in moments if k[0] == channel and k in ACCEPTED]
            print(f"{channel}: acceptance to {name}: {spread(windows)}")


if __name__ == "__main__":
    main()
