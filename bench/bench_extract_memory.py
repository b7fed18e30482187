"""Extraction memory benchmark: N pages that each need ~300 MB in lxml (an 8 MB paragraph) through the
extraction pool with default memory settings and W workers (default: one per core, as the service does),
with the pool's total budget (`extract.memory_total_mb`, default 1024) and without it (each worker capped
at `memory_mb` only, as before). Samples the resident memory of every worker every 20 ms and prints the
peak of their sum, and how many pages fell back to the summary.

Run: python bench/bench_extract_memory.py [--workers 6] [--pages 6]

Figures (24 GB, 2 cores, 2026-12-05, --workers 6 --pages 6, two runs): with the budget 4 workers of 256 MB,
peak 881 / 934 MB, every page over its share fell back to the summary; per worker only 6 workers, peak 1,384 /
1,478 MB. With the default workers on this 2-core machine both settings give 2 workers of 512 MB (peak ~530 MB).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOG = b"<html><body><p>" + b"word " * 1_600_000 + b"</p></body></html>"


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(total: int | None, workers: int, pages: int) -> tuple[int, int, int]:
    from monitor.config import ExtractConfig
    from monitor.extract_pool import ExtractJob, ExtractPool
    from monitor.models import FeedItem

    defaults = ExtractConfig()
    pool = ExtractPool(workers=workers, timeout=120, memory_mb=defaults.memory_mb, memory_total_mb=total)
    jobs = [ExtractJob(FeedItem("f", "f", None, f"http://f/{n}", "t", "summary", None), HOG, "text/html")
            for n in range(pages)]
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, sum(rss_kb(pid) for pid in pool.pids))
            time.sleep(0.02)

    with pool:
        pool.start(wait_ready=True)
        watcher = threading.Thread(target=sample)
        watcher.start()
        articles = pool.run(jobs)
        done.set()
        watcher.join()
    return pool.workers, peak // 1024, sum(a.text_source == "summary" for a in articles)


def main() -> None:
    from monitor.config import ExtractConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pages", type=int, default=4)
    args = parser.parse_args()
    for name, total in (("total budget", ExtractConfig().memory_total_mb), ("per worker only (before)", None)):
        workers, peak, fallbacks = run(total, args.workers, args.pages)
        print(f"{name:26} {workers} workers  peak RSS of the workers {peak:5d} MB  "
              f"{fallbacks} of {args.pages} pages fell back to the summary")


if __name__ == "__main__":
    main()
