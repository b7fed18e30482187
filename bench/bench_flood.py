"""Hostile volume benchmark: one feed of N items (default 10,000), each linking a page, served on loopback by a
separate process (its CPU is not counted); one real cycle (fetch, parse, keep new, fetch pages, extract,
match, decide, store) with the per-feed limits as configured by default, then with them lifted (what the
monitor did before). Extraction runs in this process, so RUSAGE_SELF is the cycle's whole CPU (worker
processes would be children of the fork server, not ours). Prints pages fetched, wall and CPU seconds,
and the ratios.

Run: python bench/bench_flood.py [--items 10000]

Figures (2 shared cores, 2026-12-05, two runs): with the limits 100 pages fetched, 2.4 / 2.4 s CPU, 9,900 items
held; without 10,000 / 9,996 pages, 24.5 / 23.3 s CPU: 10.0x / 9.8x the CPU (wall 10.4 / 45.6 s against
194.9 / 195.8 s: the machine was shared, CPU is the figure to read). Most of the capped cycle is feedparser
reading the 10,000 items once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def serve(port_out, count: int, pages_served) -> None:
    words = ["harbour", "ministry", "railway", "tariff", "orchard", "bridge", "council", "river", "festival", "glacier"]

    def text(n: int) -> str:
        return f"Report {n}: the {words[n % 10]} near the {words[(n // 10) % 10]} and the {words[(n // 100) % 10]}."

    feed = ("<?xml version='1.0'?><rss version='2.0'><channel><title>Flood</title>" + "".join(
        f"<item><title>{text(n)}</title><link>/p/{n}.html</link><guid isPermaLink='false'>flood-{n}</guid>"
        f"<description>{text(n)} {text(n + 1)}</description></item>" for n in range(count))
        + "</channel></rss>").encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/flood.xml":
                body, kind = feed, "application/rss+xml"
            else:
                with pages_served.get_lock():
                    pages_served.value += 1
                n = int(self.path.split("/")[-1].split(".")[0])
                body = (f"<html><body><article><h1>{text(n)}</h1><p>{text(n)} {text(n + 3)} {text(n + 5)}</p>"
                        f"<p>{text(n + 7)} {text(n + 9)}</p></article></body></html>").encode()
                kind = "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.value = server.server_address[1]
    server.serve_forever()


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def one_cycle(base: str, limits: dict, pages_served) -> tuple[int, float, float, int]:
    from monitor.config import load_config
    from monitor.pipeline import build_pipeline
    from monitor.rules.files import load_rulebook
    from monitor.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "monitor.yaml"
        path.write_text(yaml.safe_dump({"state_dir": "state", "rules_dir": str(ROOT / "rules"),
                                        "feeds": [{"url": f"{base}/flood.xml", "name": "flood"}],
                                        "fetch": {"allow_private_networks": True, "concurrency": 20},
                                        "limits": limits}), encoding="utf-8")
        config = load_config(path)
        book = load_rulebook(config.rules_dir)
        pipeline = build_pipeline(config, lambda: book, inline_extraction=True)
        before_pages = pages_served.value
        started_cpu, started = cpu(), time.perf_counter()
        with Store.open(config.db_path) as store:
            report = pipeline.run_cycle(store, force=True)
        return pages_served.value - before_pages, time.perf_counter() - started, cpu() - started_cpu, report.held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    port, pages_served = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    server = multiprocessing.get_context("fork").Process(target=serve, args=(port, args.items, pages_served),
                                                         daemon=True)
    server.start()
    while not port.value:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port.value}"
    capped = one_cycle(base, {}, pages_served)  # the defaults: 100 items and 100 pages per feed per cycle
    lifted = one_cycle(base, {"items_per_feed": 10**9, "pages_per_feed": 10**9}, pages_served)
    print(f"one cycle over a {args.items}-item feed (cpus: {os.cpu_count()})")
    for name, (pages, wall, cpu, held) in (("limits (default)", capped), ("no limits (before)", lifted)):
        print(f"  {name:20} {pages:6d} pages fetched  {wall:7.1f} s wall  {cpu:7.1f} s CPU  {held} items held")
    print(f"  ratio no limits / limits: wall {lifted[1] / capped[1]:.1f}x, CPU {lifted[2] / capped[2]:.1f}x")
    server.terminate()


if __name__ == "__main__":
    main()
