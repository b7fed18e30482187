"""The pipeline's decisions, with real stages on loopback: dedup across feeds and tracking URLs, one
page fetch per new item, max_age only when configured, and a hostile page never stops a cycle."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.config import load_config
from monitor.store import Store
from tests.helpers import cycle, rss

PAGE = ("<html><body><nav>Home News</nav><article><h1>Minsk court</h1><p>"
        + "Viasna says the court in Minsk jailed another political prisoner on Tuesday. " * 8
        + "</p></article></body></html>").encode()


def test_same_story_in_two_feeds_and_with_tracking_parameters_is_one_article(site, write_config):
    site.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, rss(site.base, [
        ("a-1", "/story.html", "Minsk court jails activist", "Tue, 07 Oct 2025 10:00:00 GMT")])))
    site.route("/b.xml", (200, {"Content-Type": "application/rss+xml"}, rss(site.base, [
        ("b-77", "/story.html?utm_source=rss&utm_medium=feed#top", "Minsk court jails activist",
         "Tue, 07 Oct 2025 10:05:00 GMT"),
        ("b-77", "/story.html?utm_source=rss&utm_medium=feed#top", "Minsk court jails activist",
         "Tue, 07 Oct 2025 10:05:00 GMT")])))
    site.route("/story.html", (200, {"Content-Type": "text/html"}, PAGE))
    config = write_config([{"url": site.url("/a.xml")}, {"url": site.url("/b.xml")}])
    report, counts = cycle(config)
    assert report.new_articles == 1 and counts["articles"] == 1
    assert len(site.hits_for("/story.html")) == 1  # the page was fetched once, not three times
    report, counts = cycle(config)
    assert report.new_articles == 0 and counts["articles"] == 1


def test_articles_are_kept_whatever_their_age_unless_max_age_is_set(site, write_config, tmp_path):
    feed = rss(site.base, [("old-1", "/old.html", "Old Minsk report", "Mon, 01 Jan 2018 10:00:00 GMT"),
                           ("new-1", "/new.html", "New Minsk report", "Sat, 21 Nov 2026 10:00:00 GMT")])
    site.route("/f.xml", (200, {"Content-Type": "application/rss+xml"}, feed))
    now = datetime(2026, 11, 22, tzinfo=UTC)
    _, counts = cycle(write_config([{"url": site.url("/f.xml")}]), now)
    assert counts["articles"] == 2
    (tmp_path / "state" / "monitor.db").unlink()
    _, counts = cycle(write_config([{"url": site.url("/f.xml")}], max_age="30d"), now)
    assert counts["articles"] == 1


def test_a_hostile_page_is_reported_and_the_cycle_goes_on(site, write_config):
    site.route("/f.xml", (200, {"Content-Type": "application/rss+xml"}, rss(site.base, [
        ("x-1", "/huge.html", "Minsk political prisoner news", "Tue, 07 Oct 2025 10:00:00 GMT"),
        ("x-2", "/binary.html", "Minsk political prisoner news 2", "Tue, 07 Oct 2025 10:00:00 GMT"),
        ("x-3", "/fine.html", "Minsk political prisoner news 3", "Tue, 07 Oct 2025 10:00:00 GMT")])))
    site.route("/huge.html", (200, {"Content-Type": "text/html"}, b"<p>" + b"x" * (3 * 1024 * 1024)))
    site.route("/binary.html", (200, {"Content-Type": "text/html"}, bytes(range(256)) * 64))
    site.route("/fine.html", (200, {"Content-Type": "text/html"}, PAGE))
    config = write_config([{"url": site.url("/f.xml")}], fetch={"max_page_bytes": "1MB"})
    report, counts = cycle(config)
    assert counts["articles"] == 3 and report.feed_errors == []
    with Store.open(load_config(config).db_path) as store:
        sources = {r["url"].rsplit("/", 1)[-1]: (r["text_source"], r["text_note"] or "")
                   for r in store.db.query("SELECT url, text_source, text_note FROM articles")}
    assert sources["huge.html"][0] == "summary" and "cap" in sources["huge.html"][1]
    assert sources["fine.html"] == ("page", "")
    assert store_hits(config) == [["belarus-prisoners"]] * 3  # each matched on the text it had


def store_hits(config) -> list[list[str]]:
    with Store.open(load_config(config).db_path) as store:
        return [row["rules"] for row in store.hits()]
