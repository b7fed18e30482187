"""The cost of the address-policy guard around Apprise (monitor.fetch.guarded_connections), measured against
bare Apprise in the same run: (1) the same json:// notification to a loopback receiver, bare and guarded;
(2) any audited event in the process (an open(), a socket) once the audit hook is installed, which it stays.

Run: python bench/bench_guard.py [--sends 300]      (about 10 s)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import timeit
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import apprise  # noqa: E402

from monitor.config import FetchConfig  # noqa: E402
from monitor.fetch import guarded_connections  # noqa: E402


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def audited_event_ns(n: int = 200_000) -> float:
    return min(timeit.repeat("sys.audit('open', 'x', 'r', 0)", globals={"sys": sys}, number=n, repeat=5)) / n * 1e9


def send_ms(app: apprise.Apprise, sends: int, guard: FetchConfig | None) -> list[float]:
    times = []
    for _ in range(sends):
        start = time.perf_counter()
        if guard is None:
            ok = app.notify(body="a message", title="news-monitor alert", timeout=10)
        else:
            with guarded_connections(guard):
                ok = app.notify(body="a message", title="news-monitor alert", timeout=10)
        times.append((time.perf_counter() - start) * 1000)
        assert ok, "the loopback receiver did not take the message"
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    app.add(f"json://127.0.0.1:{server.server_address[1]}/in")
    event_before = audited_event_ns()
    send_ms(app, 20, None)  # warm up: plugin imports, the first connection
    policy = FetchConfig(allow_private_networks=True)
    bare, guarded = [], []
    for n in range(args.sends):  # interleaved, so a shared machine's load falls on both alike
        first, second = (None, policy) if n % 2 else (policy, None)
        for guard in (first, second):
            (bare if guard is None else guarded).extend(send_ms(app, 1, guard))
    event_after = audited_event_ns()
    med = statistics.median
    print(f"json:// send to loopback, median of {args.sends} each, interleaved: bare {med(bare):.2f} ms, "
          f"guarded {med(guarded):.2f} ms (x{med(guarded) / med(bare):.3f})")
    print(f"an audited event (open, socket, ...): {event_before:.0f} ns before the hook, {event_after:.0f} ns after "
          f"(+{event_after - event_before:.0f} ns, for the rest of the process)")
    server.shutdown()


if __name__ == "__main__":
    main()
