"""Benchmark of the extract stage on real pages (../shared/corpora/scrapinghub-aeb, 181 news pages):
CPU per page of bare trafilatura.extract(html string) against our extract_article(bytes) on one core,
then pages per second (wall clock) through ExtractPool with 1 and with 2 workers.

Run: python bench/bench_extract.py        (about 90 s). CPU figures are each page's best of
--rounds runs (bare and ours alternate page by page), so other processes on the machine disturb them little.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trafilatura  # noqa: E402

from bench.extract_quality import CORPUS, Page, load_pages  # noqa: E402
from monitor.extract import extract_article  # noqa: E402
from monitor.extract_pool import ExtractJob, ExtractPool  # noqa: E402
from monitor.models import FeedItem  # noqa: E402

TARGET_RATIO = 1.2


def feed_item(page: Page, from_feed: bool) -> FeedItem:
    """The item as a feed gives it: with title and date (the usual case) or without (we read the page's)."""
    return FeedItem(feed_url="http://feed.invalid/", feed_name="corpus", guid=None, url=page.url,
                    title="A headline" if from_feed else "", summary="",
                    published=datetime(2019, 11, 1, tzinfo=UTC) if from_feed else None)


def cpu_per_page(pages: Sequence[Page], rounds: int) -> dict[str, float]:
    """Milliseconds of process CPU per page for each contender: per page the best of `rounds`, then the mean."""
    html = [p.html.decode("utf-8") for p in pages]  # bare gets a ready string: its decoding is free
    contenders: dict[str, Callable[[int], object]] = {
        "bare trafilatura.extract(str)": lambda i: trafilatura.extract(html[i]),
        "extract_article, feed has title+date": lambda i: extract_article(feed_item(pages[i], True), pages[i].html,
                                                                          "text/html; charset=utf-8"),
        "extract_article, no title/date in feed": lambda i: extract_article(feed_item(pages[i], False),
                                                                            pages[i].html, "text/html"),
    }
    for run in contenders.values():  # first-use costs (jusText stoplists, regexes) out of the timing
        run(0)
    best = {name: [float("inf")] * len(pages) for name in contenders}
    for _ in range(rounds):
        for i in range(len(pages)):
            for name, run in contenders.items():
                started = time.process_time()
                run(i)
                best[name][i] = min(best[name][i], time.process_time() - started)
    return {name: 1000 * sum(times) / len(times) for name, times in best.items()}


def pool_rate(pages: Sequence[Page], workers: int, passes: int) -> tuple[float, float, float, float]:
    """Through an ExtractPool of `workers`, `passes` times over the pages: pages per second of wall clock
    (best and median pass), and CPU ms per page spent in the workers and in the parent (pickling, dispatch)."""
    jobs = [ExtractJob(feed_item(p, True), p.html, "text/html; charset=utf-8") for p in pages]
    rates, fallbacks = [], []
    with ExtractPool(workers=workers, timeout=30.0, max_jobs_per_worker=10 * passes * len(jobs)) as pool:
        pool.start(wait_ready=True)  # starting and warming up the workers is not part of the rate
        worker_cpu, cpu = _cpu_of(pool.pids), time.process_time()
        for _ in range(passes):
            wall = time.perf_counter()
            articles = pool.run(jobs)
            rates.append(len(jobs) / (time.perf_counter() - wall))
            fallbacks += [a.note for a in articles if a.note and "extraction" in a.note]
        worker_cpu, cpu = _cpu_of(pool.pids) - worker_cpu, time.process_time() - cpu
    if fallbacks:
        print(f"  warning: {len(fallbacks)} pages fell back in the pool: {fallbacks[:3]}")
    done = passes * len(jobs)
    return max(rates), statistics.median(rates), 1000 * worker_cpu / done, 1000 * cpu / done


def _cpu_of(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=3, help="CPU runs per page; the best counts")
    parser.add_argument("--passes", type=int, default=5, help="times each pool goes through the pages")
    args = parser.parse_args(argv)
    pages = load_pages(args.corpus)
    if not pages:
        print(f"skipped: no scrapinghub-aeb corpus at {args.corpus}")
        return 0
    print(f"{len(pages)} real pages ({sum(len(p.html) for p in pages) / len(pages) / 1024:.0f} KB on average), "
          f"trafilatura {trafilatura.__version__}, {os.cpu_count()} CPUs")
    print("\nCPU per page, one core (time.process_time)")
    cpu = cpu_per_page(pages, args.rounds)
    bare_ms = next(iter(cpu.values()))
    print(f"  {'':<40} {'ms/page':>8} {'pages/s':>8} {'ratio':>6}")
    for name, ms in cpu.items():
        print(f"  {name:<40} {ms:>8.2f} {1000 / ms:>8.1f} {ms / bare_ms:>6.2f}")
    worst = max(ms / bare_ms for ms in cpu.values())
    print(f"  worst ratio {worst:.2f} (target <= {TARGET_RATIO}): {'ok' if worst <= TARGET_RATIO else 'OVER'}")
    print(f"\nExtractPool over the {len(pages)} pages, {args.passes} passes each (wall clock, workers warmed up; "
          f"load average before: {os.getloadavg()[0]:.2f})")
    print(f"  {'workers':<8} {'best pages/s':>12} {'median':>7} {'speed-up':>9} {'worker CPU ms/page':>19} "
          f"{'parent CPU ms/page':>19}")
    one = None
    for workers in (1, 2):
        best, median, worker_ms, parent_ms = pool_rate(pages, workers, args.passes)
        one = one or best
        print(f"  {workers:<8} {best:>12.1f} {median:>7.1f} {best / one:>8.2f}x {worker_ms:>19.2f} "
              f"{parent_ms:>19.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
