"""Full-text search cost: inserts per second with and without the FTS5 index, index size per 100,000
articles, and query time at 100,000 and 1,000,000 articles against the bare FTS5 query on the same index.

    python bench/bench_search.py [--inserts 20000] [--cache /tmp/e2e-cache] [--big 1000000]

Articles are real pages of ../shared/corpora/scrapinghub-aeb extracted by the project, written through
Store.add_article by bench/e2e.py's store generator (fill_store), so each insert is the pipeline's: article,
story, hits and the search entry in one transaction. "Without" is the same run with the index's triggers
dropped right after the store is opened.
The 100,000 store is e2e's cached template when present (the migration back-fills its index: timed); the
1,000,000 store repeats its articles ten times in SQL and indexes each copy with its original's folded text,
folded once (same vocabulary, 10x the postings).
"Ours" is `news-monitor search`'s work (store.search: MATCH, join, newest first, 20 rows, plus snippets);
"bare" is `SELECT rowid ... MATCH ? LIMIT 20` on the same index. One run gives the ratios; run it twice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import fill_store, load_pages, stored_template, topic_lead  # noqa: E402

from monitor.migrations import SEARCH_FOLD  # noqa: E402
from monitor.rules.query import parse  # noqa: E402
from monitor.search import searchable, snippet, to_match  # noqa: E402
from monitor.store import Store  # noqa: E402

TRIGGERS = ("article_search_insert", "article_search_update", "article_search_delete")
QUERIES = ["belarus", "prisoners", '"political prisoners"', "sanction*", "zapad NEAR/5 exercise",
           "title:report AND belarus", "belarus AND NOT sanctions", "лукашенко", "company OR market"]


def texts_of(count: int) -> list[str]:
    from monitor.extract import extract_article
    from monitor.models import FeedItem
    pages = load_pages()
    if not pages:
        raise SystemExit("the scrapinghub-aeb corpus is missing (../shared/corpora/scrapinghub-aeb)")
    blank = FeedItem("", "", None, None, "", "", None)
    out = []
    for i in range(count):
        text = extract_article(blank, pages[i % len(pages)][1], "text/html; charset=utf-8").text or ""
        lead = topic_lead(i)
        out.append(f"{lead}\n{text}" if lead else text)
    return out


def insert_rate(tmp: Path, n: int, texts: list[str], indexed: bool) -> float:
    path = tmp / f"inserts-{indexed}.db"
    original = Store.migrate

    def unindexed(self: Store) -> list[str]:  # the same writes, without the search entry
        applied = original(self)
        for trigger in TRIGGERS:
            self.db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        return applied

    if not indexed:
        Store.migrate = unindexed
    try:
        started = time.perf_counter()
        fill_store(path, n, texts)
        return n / (time.perf_counter() - started)
    finally:
        Store.migrate = original
        for leftover in tmp.glob(f"inserts-{indexed}.db*"):
            leftover.unlink()


def index_bytes(conn: sqlite3.Connection) -> int:
    """Pages of the FTS5 table's shadow tables (dbstat), else the file's size change is not separable."""
    return conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'article\\_search%' ESCAPE '\\'").fetchone()[0]


def query_times(path: Path, repeat: int = 5) -> list[tuple[str, float, float, int]]:
    out = []
    with Store.open(path) as store:
        for query in QUERIES:
            tree = parse(query)
            match = to_match(tree)
            ours, bare = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                rows = store.search(match, limit=20)
                for row in rows:
                    snippet(row["text"], tree)
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                store.db.execute("SELECT rowid FROM article_search WHERE article_search MATCH ? LIMIT 20",
                                 [match]).fetchall()
                bare.append(time.perf_counter() - started)
            total = store.db.execute("SELECT count(*) FROM article_search WHERE article_search MATCH ?",
                                     [match]).fetchone()[0]
            out.append((query, statistics.median(ours) * 1000, statistics.median(bare) * 1000, total))
    return out


def print_queries(label: str, rows: list[tuple[str, float, float, int]]) -> None:
    print(f"query time at {label} (median of 5; 20 newest with snippets vs bare MATCH LIMIT 20):")
    for query, ours, bare, total in rows:
        print(f"  {query:32} {total:>9,} matches  ours {ours:8.1f} ms  bare {bare:7.2f} ms  "
              f"ratio {ours / max(bare, 1e-6):6.1f}")


def ten_times(source: Path, target: Path, copies: int) -> None:
    """`copies` times the articles and search entries of `source`, with new ids, keys and first-seen order.
    The index is contentless: each copy's entry is its original's folded text, folded once into a temp table
    (the insert trigger, which would fold every copy again, is set aside while copying)."""
    shutil.copyfile(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.create_function(SEARCH_FOLD, -1, searchable, deterministic=True)
    top = conn.execute("SELECT max(id) FROM articles").fetchone()[0]
    columns = [r[1] for r in conn.execute("PRAGMA table_info(articles)") if r[1] not in ("id", "guid_key", "url_key")]
    names = ", ".join(columns)
    conn.execute(f"CREATE TEMP TABLE folded AS SELECT id, {SEARCH_FOLD}(title) AS title, "
                 f"{SEARCH_FOLD}(text, summary) AS body, {SEARCH_FOLD}(feed_name) AS outlet FROM articles")
    trigger = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'article_search_insert'").fetchone()[0]
    conn.execute("DROP TRIGGER article_search_insert")
    for k in range(1, copies):
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO articles (id, guid_key, url_key, {names}) SELECT id + {k * top}, "
                     f"guid_key || '-{k}', url_key || '-{k}', {names} FROM articles WHERE id <= {top}")
        conn.execute(f"INSERT INTO article_search (rowid, title, body, outlet) SELECT id + {k * top}, title, body, "
                     "outlet FROM temp.folded")
        conn.execute("COMMIT")
    conn.execute(trigger)
    conn.execute("INSERT INTO article_search (article_search) VALUES ('optimize')")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inserts", type=int, default=20_000)
    parser.add_argument("--articles", type=int, default=181, help="distinct real pages")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "e2e-cache")
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs", flush=True)
    texts = texts_of(args.articles)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as scratch:
        tmp = Path(scratch)
        without = insert_rate(tmp, args.inserts, texts, indexed=False)
        with_index = insert_rate(tmp, args.inserts, texts, indexed=True)
        print(f"inserts through Store.add_article ({args.inserts:,}): {without:,.0f}/s without the index, "
              f"{with_index:,.0f}/s with it; ratio {without / with_index:.2f}", flush=True)

        args.cache.mkdir(parents=True, exist_ok=True)
        template = stored_template(args.cache, 100_000, texts)
        hundred = tmp / "100k.db"
        shutil.copyfile(template, hundred)
        started = time.perf_counter()
        with Store.open(hundred) as store:  # the migration builds the index if the template predates it
            built = time.perf_counter() - started
            count = store.db.execute("SELECT count(*) FROM article_search").fetchone()[0]
            size = index_bytes(store.db.conn)
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"index at {count:,} articles: {size / 2**20:,.1f} MiB ({size / count * 100_000 / 2**20:,.1f} MiB per "
              f"100,000 articles; the whole database {hundred.stat().st_size / 2**20:,.0f} MiB); "
              f"opening it took {built:.1f} s (the migration's back-fill, when the store predates it)", flush=True)
        print_queries(f"{count:,} articles", query_times(hundred))

        big = tmp / "big.db"
        ten_times(hundred, big, max(1, args.big // count))
        with Store.open(big) as store:
            total = store.db.execute("SELECT count(*) FROM article_search").fetchone()[0]
            size = index_bytes(store.db.conn)
        print(f"index at {total:,} articles: {size / 2**20:,.0f} MiB", flush=True)
        print_queries(f"{total:,} articles", query_times(big))


if __name__ == "__main__":
    main()
