"""Polling benchmark: N generated feeds on loopback (several 127.x hosts and ports, served by a separate
process so its CPU is not counted), three cycles through the real poll stage (fetch, decide, parse,
record): cycle 1 all 200s, cycle 2 all 304s, cycle 3 all 200s with identical bodies (the server
ignores validators). Prints feeds/s, CPU ms per feed and peak RSS per cycle, and cycle 1's parse CPU
per feed against bare feedparser.parse on the same bytes in the same run.

    python bench/bench_poll.py [--feeds 10000] [--items 10]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]


def feed_bytes(n: int, items: int) -> bytes:
    entries = "".join(
        f"<item><title>Feed {n} item {i}: Minsk talks on sanctions and prisoners</title>"
        f"<link>https://outlet{n % 97}.example/{n}/{i}.html</link><guid isPermaLink='false'>f{n}-{i}</guid>"
        f"<pubDate>Tue, 07 Oct 2025 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description>Paragraph {i} of feed {n}. Officials in Minsk and Vilnius discussed the border, "
        f"trade and the release of detainees, according to people familiar with the talks.</description></item>"
        for i in range(items))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Feed {n}</title>"
            f"<link>https://outlet{n % 97}.example/</link><description>d</description>{entries}</channel></rss>"
            ).encode()


def serve(ports: list[int], items: int, mode, ready) -> None:
    import asyncio

    from aiohttp import web

    cache: dict[int, tuple[bytes, str]] = {}

    async def handle(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n not in cache:
            body = feed_bytes(n, items)
            cache[n] = (body, '"' + hashlib.md5(body).hexdigest() + '"')
        body, etag = cache[n]
        if mode.value == 1 and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in HOSTS:
            for port in ports:
                await web.TCPSite(runner, host, port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def free_ports(count: int) -> list[int]:
    import socket
    ports, socks = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        socks.append(s)
    for s in socks:
        s.close()
    return ports


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=10)
    args = parser.parse_args()

    import feedparser

    from monitor.config import Config, FetchConfig
    from monitor.fetch import Fetcher
    from monitor.pipeline import CycleReport, Pipeline, _Feeds
    from monitor.store import Store

    ports = free_ports(3)
    mode = multiprocessing.Value("i", 1)  # 1: honour validators, 0: ignore them
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(ports, args.items, mode, ready), daemon=True)
    server.start()
    ready.wait(30)
    urls = [f"http://{HOSTS[n % len(HOSTS)]}:{ports[(n // len(HOSTS)) % len(ports)]}/feed/{n}.xml"
            for n in range(args.feeds)]
    print(f"{args.feeds} feeds of {args.items} items on {len(HOSTS)} hosts x {len(ports)} ports; "
          f"separate server process", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        config = Config(path=Path(tmp) / "monitor.yaml", state_dir=Path(tmp), rules_dir=ROOT / "rules",
                        feeds=[{"url": u} for u in urls],
                        fetch=FetchConfig(allow_private_networks=True, concurrency=50, per_host=8))
        pipeline = Pipeline(config, rules=lambda: None, fetcher=Fetcher(config.fetch), senders=[])
        feeds = _Feeds(config)
        now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
        rows = []
        with Store.open(config.db_path) as store:
            store.sync_feed_names(feeds.names())
            for cycle, label in ((1, "200 new"), (2, "304"), (3, "200 identical")):
                mode.value = 0 if cycle == 3 else 1
                pipeline.clock = lambda n=now + timedelta(hours=cycle): n
                due = store.due_feeds(pipeline.clock(), force=True)
                report = CycleReport()
                cpu, wall = time.process_time(), time.perf_counter()
                items, parsed = pipeline._poll(store, due, feeds, report)
                store.record_validators(parsed, pipeline.clock())  # as run_cycle does once items are stored
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert not report.feed_errors, report.feed_errors[:3]
                rows.append((cycle, label, report.feeds_polled, len(items), report.feeds_not_modified,
                             args.feeds / wall, 1000 * cpu / args.feeds, rss_mb()))

        # cycle 1's parse cost against bare feedparser on the same bytes, in this run
        sample = [feed_bytes(n, args.items) for n in range(min(args.feeds, 1000))]
        from monitor.feeds import parse_feed
        from monitor.models import Feed
        feed = Feed("https://x.example/feed", "x", 900)
        headers = {"content-type": "application/rss+xml"}
        t = time.process_time()
        for body in sample:
            feedparser.parse(body, response_headers=headers)
        bare = (time.process_time() - t) / len(sample)
        t = time.process_time()
        for body in sample:
            parse_feed(feed, body, headers, url=feed.url)
        ours = (time.process_time() - t) / len(sample)
    server.kill()

    print(f"{'cycle':<18}{'feeds':>7}{'items':>8}{'unchanged':>10}{'feeds/s':>10}{'CPU ms/feed':>13}"
          f"{'peak RSS MB':>13}")
    for cycle, label, polled, items, unchanged, rate, cpu_ms, rss in rows:
        print(f"{cycle} {label:<16}{polled:>7}{items:>8}{unchanged:>10}{rate:>10.0f}{cpu_ms:>13.3f}{rss:>13.0f}")
    print(f"\nparse CPU per feed ({args.items} items): bare feedparser.parse {1000 * bare:.2f} ms "
          f"(defaults), our parse_feed {1000 * ours:.2f} ms -> ratio {ours / bare:.2f} (target <= 1.1)")
    print(f"targets: cycles 2 and 3 < 1 ms CPU per feed -> "
          f"{'met' if rows[1][6] < 1 and rows[2][6] < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
