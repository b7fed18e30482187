"""Read-side benchmark: the commands an analyst runs against a large state database, as the CLI runs them.

Times `digest --dry-run`, `hits --since 1d`, `status`, `releases` and `rules backtest all --since 1d`, each a
`python -m monitor --config ...` subprocess measured by bench/e2e.py's meter (wall seconds, and CPU seconds of
every descendant), against a store of 100,000 and 1,000,000 articles. The startup of the same interpreter and
CLI (`--help`, no database work) is measured in the same run as the baseline each row is compared with.

    python bench/bench_queries.py [--sizes 100000,1000000] [--runs 2] [--cache /tmp] [--commands digest,hits]

The stores: 100,000 articles are written through the project's own code by bench/e2e.py's --stored generator
(Store.add_article with the features, fingerprint and hits the pipeline computes; 30 days, hits older than a
day marked digested) and kept in --cache. Filling 1,000,000 that way takes ~20 minutes, so the larger store is
that 100,000-article store MULTIPLIED with SQL INSERT ... SELECT inside this bench: copy k of the articles,
their hits and stories gets article ids + k*100,000, keys suffixed with the copy number and times
shifted k*30 days back — ten months of the same daily volume, so the last day holds the same number of hits
at both sizes and the figures show what the older rows cost. The copies get no full-text search entries
(re-tokenizing 900,000 texts takes longer than the rest; none of the timed commands reads article_search), so
the multiplied file is smaller than a real one by that index. Both stores are cached in --cache and copied
fresh for each size; the first command run on a copy (schema migrations) is not measured.

The monitor package the commands import is byte-compiled first, as `pip install` leaves it: run from a source
checkout with PYTHONDONTWRITEBYTECODE set, every start would otherwise compile each of its modules again
(~0.06 s of CPU, added to every row).
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import e2e  # noqa: E402  (the bench directory is run as a script, not installed)

BASE = 100_000
DAYS = 30  # e2e.fill_store spreads its articles over this many days
COMMANDS = [
    ("digest --dry-run", ["digest", "--dry-run"]),
    ("hits --since 1d", ["hits", "--since", "1d"]),
    ("status", ["status"]),
    ("releases", ["releases"]),
    ("rules backtest all --since 1d", ["rules", "backtest", "all", "--since", "1d"]),
]


def corpus_texts(articles: int = 181) -> list[str]:
    """The article texts e2e.py's --stored store is made of (same texts, so the cached store is shared)."""
    from monitor.extract import extract_article
    from monitor.models import FeedItem
    pages = e2e.load_pages()
    if not pages:
        raise SystemExit("the scrapinghub-aeb corpus is missing (../shared/corpora/scrapinghub-aeb)")
    blank = FeedItem("", "", None, None, "", "", None)
    texts = []
    for i in range(articles):
        text = extract_article(blank, pages[i % len(pages)][1], "text/html; charset=utf-8").text
        lead = e2e.topic_lead(i)
        texts.append(f"{lead}\n{text}" if lead else text)
    return texts


def shifted(column: str, k: int) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%SZ', {column}, '-{k * DAYS} days') END"


def multiply(base: Path, path: Path, copies: int) -> None:
    """`copies` x the base store's rows, each copy older by DAYS days (see the module docstring)."""
    partial = path.with_suffix(".partial")
    for leftover in (partial, Path(str(partial) + "-wal"), Path(str(partial) + "-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(base, partial)
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    articles = [c[1] for c in conn.execute("PRAGMA table_info(articles)")]
    hits = [c[1] for c in conn.execute("PRAGMA table_info(hits)") if c[1] != "id"]  # new ids assigned
    stories = [c[1] for c in conn.execute("PRAGMA table_info(stories)")]
    # the search index's insert trigger (a store made since migration 012) would fold every copy: set aside
    trigger = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'article_search_insert'").fetchone()
    if trigger:
        conn.execute("DROP TRIGGER article_search_insert")
    started = time.perf_counter()
    for k in range(1, copies):
        off = k * BASE
        tag = f"'#{k}'"
        a_expr = {"id": f"id + {off}", "guid_key": f"guid_key || {tag}", "url_key": f"url_key || {tag}",
                  "guid": f"guid || {tag}", "url": f"url || {tag}", "story": f"story || {tag}",
                  "first_seen": shifted("first_seen", k), "published": shifted("published", k)}
        h_expr = {"article_id": f"article_id + {off}",
                  "first_seen": shifted("first_seen", k), "digest_message": "'seeded'"}
        s_expr = {"id": f"id || {tag}", "first_seen": shifted("first_seen", k),
                  "last_seen": shifted("last_seen", k)}
        conn.execute("BEGIN")
        for table, columns, expr, where in (("articles", articles, a_expr, f"id <= {BASE}"),
                                            ("hits", hits, h_expr, f"article_id <= {BASE}"),
                                            ("stories", stories, s_expr, "id NOT LIKE '%#%'")):
            conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT "
                         f"{', '.join(expr.get(c, c) for c in columns)} FROM {table} WHERE {where}")
        conn.execute("COMMIT")
        print(f"    copy {k} of {copies - 1} ({time.perf_counter() - started:.0f} s)", flush=True)
    if trigger:
        conn.execute(trigger[0])
        conn.commit()
    conn.close()
    partial.rename(path)


def store_of(size: int, cache: Path, texts: list[str]) -> Path:
    base = e2e.stored_template(cache, BASE, texts)
    if size == BASE:
        return base
    if size % BASE:
        raise SystemExit(f"--sizes: {size:,} is not a multiple of {BASE:,}")
    path = cache / f"news-monitor-queries-stored-{size}-v1.db"
    if not path.exists():
        print(f"  multiplying the {BASE:,}-article store to {size:,} with INSERT ... SELECT (kept as {path}) ...",
              flush=True)
        multiply(base, path, size // BASE)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{BASE},{10 * BASE}", help="stored articles, comma-separated")
    parser.add_argument("--runs", type=int, default=2, help="measured runs of each command")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()), help="where the stores are kept")
    parser.add_argument("--commands", default="", help="only the commands whose label contains one of these "
                        "comma-separated words (e.g. digest,hits); the startup baseline always runs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    wanted = [w for w in args.commands.split(",") if w]
    commands = [(label, command) for label, command in COMMANDS if not wanted or any(w in label for w in wanted)]

    texts = corpus_texts()
    # the code the commands run (as they start: this directory, PYTHONPATH), not this script's checkout
    package = Path(subprocess.run([sys.executable, "-c", "import monitor; print(monitor.__file__)"], check=True,
                                  capture_output=True, text=True).stdout.strip()).parent
    compileall.compile_dir(package, quiet=1)
    print(f"  measuring the monitor package at {package}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-queries-") as tmp_name:
        tmp = Path(tmp_name)
        meter = e2e.Meter(tmp)
        for size in sizes:
            template = store_of(size, args.cache, texts)
            config = e2e.write_config(tmp / str(size) / "monitor.yaml", [], fetch_pages=False)
            e2e.with_store(template, tmp / str(size) / "state")
            meter.monitor(config, "status")  # migrations on the fresh copy, out of the measured runs
            base = [meter.run([sys.executable, "-m", "monitor", "--config", str(config), "--help"])
                    for _ in range(args.runs)]
            rows.append((size, "startup (--help, baseline)", base))
            for label, command in commands:
                runs = [meter.monitor(config, *command) for _ in range(args.runs)]
                rows.append((size, label, runs))
                print(f"  {size:,} {label}: " + "; ".join(f"{r['wall']:.2f} s wall, {r['cpu']:.2f} s CPU"
                                                          for r in runs), flush=True)

    print()
    print(f"{'stored':>10} | {'command':<30} | " + " | ".join(f"run {i + 1} wall / CPU s" for i in range(args.runs))
          + " | best CPU vs startup")
    startup = {size: min(r["cpu"] for r in runs) for size, label, runs in rows if label.startswith("startup")}
    for size, label, runs in rows:
        cells = " | ".join(f"{r['wall']:>8.2f} / {r['cpu']:<8.2f}" for r in runs)
        best = min(r["cpu"] for r in runs)
        print(f"{size:>10,} | {label:<30} | {cells} | {best / max(startup[size], 1e-9):.1f}x")


if __name__ == "__main__":
    main()
