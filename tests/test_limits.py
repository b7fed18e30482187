"""Hostile volume is capped per feed (issue 9, item 4): items and page fetches per feed per cycle (the rest
wait in the backlog, nothing dropped), one memory budget for the whole extraction pool, page-fetch and
extraction failures counted per feed, and a feed cut short shown as "partial". Real loopback servers,
feedparser, trafilatura and SQLite; no assertion on time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from monitor.cli import main
from monitor.decide.limits import portion
from monitor.extract_pool import ExtractJob, ExtractPool
from monitor.models import FeedItem, StoredArticle
from monitor.store import Store
from tests.helpers import pipeline_for

WORDS = ["harbour", "ministry", "railway", "tariff", "orchard", "bridge", "council", "river", "festival", "glacier",
         "archive", "vineyard", "museum", "satellite", "parliament", "airport", "lighthouse", "granary",
         "observatory", "quarry"]


def describe(n: int) -> str:
    """A distinct sentence per number, so that no two items are near-duplicates of each other."""
    picked = [WORDS[(n // 20 ** k) % 20] for k in range(4)]
    return f"Report {n}: the {picked[0]} near the {picked[1]} and the {picked[2]} beside the {picked[3]}."


def big_feed(base: str, count: int, start: int = 0) -> bytes:
    entries = "".join(f"<item><title>{describe(n)}</title><link>{base}/p/{n}.html</link><guid>{base}/p/{n}.html"
                      f"</guid><description>{describe(n)} {describe(n + 7)}</description></item>"
                      for n in range(start, start + count))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Flood</title>{entries}'
            "</channel></rss>").encode()


def page(n: int) -> bytes:
    return (f"<html><body><article><h1>{describe(n)}</h1><p>{describe(n)} {describe(n + 3)}</p>"
            f"<p>{describe(n + 11)} {describe(n + 13)}</p></article></body></html>").encode()


def serve_pages(site, count: int, delay: float = 0.0) -> None:
    def answer(req):
        if delay:
            time.sleep(delay)  # a slow page: the cap counts fetches, not seconds
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page(int(req.path.split("/")[-1].split(".")[0]))
    for n in range(count):
        site.route(f"/p/{n}.html", answer)


def page_requests(site) -> int:
    return sum(1 for r in site.requests if r.path.startswith("/p/"))


def kept(store: Store) -> set[str]:
    """URLs stored, as articles or as copies of one: nothing may be missing."""
    rows = list(store.db.query("SELECT url FROM articles")) + list(store.db.query("SELECT url FROM sources"))
    return {r["url"] for r in rows}


def feeds_output(config_path) -> str:
    return CliRunner().invoke(main, ["--config", str(config_path), "feeds"]).output


# -- the pure decision ------------------------------------------------------------------------------------


def _item(feed: str, n: int, url: bool = True) -> FeedItem:
    return FeedItem(feed, feed, f"{feed}#{n}", f"http://{feed}/{n}" if url else None, f"t{n}", "", None)


def test_portion_takes_per_feed_new_items_first_and_holds_the_rest_in_order():
    row = StoredArticle(id=1, item_hash="", fingerprint=None, first_seen=datetime.now(UTC),
                        page_checked=datetime.now(UTC))
    fresh = [_item("a", n) for n in range(5)] + [_item("b", n) for n in range(2)] + [_item("a", 9, url=False)]
    changed = [(_item("a", 20), row), (_item("b", 20), row)]
    share = portion(fresh, changed, items_per_feed=4, pages_per_feed=3, fetch_pages=True)
    # feed a: three with pages (the page limit), then the one without a page; b: both, and its revisit
    assert [i.title for i in share.fresh] == ["t0", "t1", "t2", "t0", "t1", "t9"]
    assert [i.title for i, _ in share.changed] == ["t20"] and share.changed[0][0].feed_url == "b"
    assert [(i.feed_url, i.title) for i in share.held] == [("a", "t3"), ("a", "t4"), ("a", "t20")]
    # without page fetches only the item limit counts
    share = portion(fresh, changed, items_per_feed=4, pages_per_feed=0, fetch_pages=False)
    assert len(share.fresh) == 6 and len(share.changed) == 1
    assert [(i.feed_url, i.title) for i in share.held] == [("a", "t4"), ("a", "t9"), ("a", "t20")]


# -- a 10,000-item feed -------------------------------------------------------------------------------------


def test_a_10000_item_feed_brings_its_limit_per_cycle_and_loses_nothing(make_server, write_config):
    site = make_server(None)
    site.route("/flood.xml", (200, {"Content-Type": "application/rss+xml"}, big_feed(site.base, 10_000)))
    serve_pages(site, 10_000)
    config_path = write_config([{"url": site.url("/flood.xml"), "name": "flood"}],
                               limits={"items_per_feed": 100, "pages_per_feed": 40})
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    pipeline, config = pipeline_for(config_path, lambda: now)
    with Store.open(config.db_path) as store:
        report = pipeline.run_cycle(store)
        assert page_requests(site) == 40  # not 10,000
        assert len(kept(store)) == 40 and report.held == 10_000 - 40
        assert store.db["backlog"].count == 10_000 - 40
    assert "9960 new items waiting for the next cycle (limits)" in feeds_output(config_path)

    # the next cycle (the feed is not due again) takes the next ones from the backlog, in feed order
    now += timedelta(seconds=30)
    with Store.open(config.db_path) as store:
        pipeline.run_cycle(store)
        assert len(site.hits_for("/flood.xml")) == 1
        assert page_requests(site) == 80
        assert kept(store) == {site.url(f"/p/{n}.html") for n in range(80)}

        # nothing dropped: every item of the feed is kept or waiting in the backlog, each once
        waiting = [key for key, _ in store.held_items([config.feeds[0].url])]
        assert len(waiting) == 10_000 - 80 and not kept(store) & {k.replace("https:", "http:") for k in waiting}
        assert kept(store) | {k.replace("https://", "http://") for k in waiting} == \
            {site.url(f"/p/{n}.html") for n in range(10_000)}


def test_slow_pages_count_against_the_page_limit_and_wait_their_turn(make_server, write_config):
    site = make_server(None)
    site.route("/slow.xml", (200, {"Content-Type": "application/rss+xml"}, big_feed(site.base, 12)))
    site.route("/other.xml", (200, {"Content-Type": "application/rss+xml"}, big_feed(site.base, 3, start=500)))
    serve_pages(site, 12, delay=0.3)
    serve_pages_from = {n: page(n) for n in range(500, 503)}
    for n, body in serve_pages_from.items():
        site.route(f"/p/{n}.html", (200, {"Content-Type": "text/html; charset=utf-8"}, body))
    config_path = write_config([{"url": site.url("/slow.xml"), "name": "slow"},
                                {"url": site.url("/other.xml"), "name": "other"}],
                               limits={"items_per_feed": 50, "pages_per_feed": 4})
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    pipeline, config = pipeline_for(config_path, lambda: now)
    with Store.open(config.db_path) as store:
        pipeline.run_cycle(store)
        slow = [r.path for r in site.requests if r.path.startswith("/p/") and int(r.path[3:].split(".")[0]) < 500]
        assert sorted(slow) == [f"/p/{n}.html" for n in range(4)]  # four of the slow feed's twelve pages
        assert {site.url(f"/p/{n}.html") for n in range(500, 503)} <= kept(store)  # the other feed: all
        for _ in range(2):
            now += timedelta(seconds=30)
            pipeline.run_cycle(store)
        assert {site.url(f"/p/{n}.html") for n in range(12)} <= kept(store)
        text_sources = {r["text_source"] for r in store.db.query("SELECT text_source FROM articles")}
        assert text_sources == {"page"}  # every item waited for its page rather than fall back to the summary


# -- one memory budget for the extraction pool ---------------------------------------------------------------

HOG = b"<html><body><p>" + b"word " * 1_600_000 + b"</p></body></html>"  # ~300 MB in lxml: fits 384, not 256


def test_the_memory_budget_is_for_the_whole_pool_not_per_worker():
    pool = ExtractPool(workers=6, memory_mb=1024, memory_total_mb=600)
    assert (pool.workers, pool.memory_mb) == (2, 300)  # 600 MB fits two workers of at least 256 MB
    item = FeedItem("http://f/", "f", None, "http://f/hog.html", "Hog", "The feed's summary.", None)
    with ExtractPool(workers=2, memory_mb=1024, memory_total_mb=512, timeout=60) as budget:
        budget.start(wait_ready=True)
        assert len(budget.pids) == 2
        article = budget.run([ExtractJob(item, HOG, "text/html")])[0]
    # 1024 MB per worker would have let this page through: its share of the budget (256 MB) does not
    assert article.text_source == "summary" and article.failed
    assert article.note == "extraction exceeded the memory cap (256 MB)"


def test_extraction_and_page_failures_are_counted_per_feed(make_server, write_config):
    site = make_server(None)
    entries = (f"<item><title>Hog page</title><link>{site.base}/hog.html</link><description>The hog's summary."
               f"</description></item><item><title>Gone page</title><link>{site.base}/gone.html</link>"
               "<description>The gone page's summary.</description></item>")
    site.route("/f.xml", (200, {"Content-Type": "application/rss+xml"},
                          f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{entries}'
                          "</channel></rss>".encode()))
    site.route("/hog.html", (200, {"Content-Type": "text/html"}, HOG))
    config_path = write_config([{"url": site.url("/f.xml"), "name": "f"}],
                               extract={"workers": 1, "memory_total_mb": 256, "timeout": 60},
                               fetch={"max_page_bytes": "10MB"})
    from monitor.config import load_config
    from monitor.pipeline import build_pipeline
    from monitor.rules.files import load_rulebook
    config = load_config(config_path)
    pipeline = build_pipeline(config, lambda: load_rulebook(config.rules_dir))
    with pipeline.extractor, Store.open(config.db_path) as store:
        pipeline.run_cycle(store, force=True)
    listed = feeds_output(config_path)
    assert "1 page fetch failed (last: fetch: " in listed and "gone.html: HTTP 404" in listed
    assert "1 extraction failed (last: " + site.url("/hog.html") + ": extraction exceeded the memory cap (256 MB))" \
        in listed
    status = CliRunner().invoke(main, ["--config", str(config_path), "status"]).output
    assert "1 with problems in their items" in status and "1 extraction failed" in status


# -- a feed cut short ------------------------------------------------------------------------------------------


def test_a_feed_cut_short_shows_as_partial_not_ok(make_server, write_config):
    site = make_server(None)
    full = big_feed(site.base, 20)
    served = {"body": full}
    site.route("/cut.xml", lambda _req: (200, {"Content-Type": "application/rss+xml"}, served["body"]))
    config_path = write_config([{"url": site.url("/cut.xml"), "name": "cut"}], fetch={"fetch_pages": False})
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    pipeline, config = pipeline_for(config_path, lambda: now)

    def poll() -> str:
        with Store.open(config.db_path) as store:
            pipeline.run_cycle(store, force=True)
        return feeds_output(config_path).split("cut  ", 1)[1]

    assert poll().splitlines()[1].strip().startswith("ok (")
    served["body"] = full[: len(full) * 2 // 3]  # the connection dropped two thirds in
    line = poll()
    assert line.splitlines()[1].strip().startswith("partial (")
    assert "cut short: the XML ends early" in line
    served["body"] = big_feed(site.base, 4, start=100)  # well-formed, but 4 items where there were 20
    assert "cut short: 4 items where its last complete parse had 20" in poll()
    served["body"] = big_feed(site.base, 4, start=200)
    assert poll().splitlines()[1].strip().startswith("ok (")  # 4 again: that is the feed's size now
