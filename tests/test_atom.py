"""Atom feeds of hits and releases: valid by a RELAX NG schema written from RFC 4287 (lxml) and by
feedparser, one entry per story with its outlets, rules and facts, everything from feeds escaped; written
into state/ by a real cycle on loopback and printed by `export atom`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser
from click.testing import CliRunner
from lxml import etree

from monitor.atom import hits_feed, releases_feed
from monitor.cli import main
from monitor.models import Article, FeedItem, Hit
from monitor.records import hit_records
from monitor.store import Store
from tests.helpers import ROOT, cycle

SCHEMA = etree.RelaxNG(etree.parse(str(ROOT / "tests" / "fixtures" / "atom.rng")))
HOSTILE = 'Envoy <b>Coale</b> & "friends" ]]> in Minsk\x01\x0b — «Вясна»'


def hit(n: int, story: str, feed: str, title: str, rules=("belarus_political_prisoners",), day: int = 1) -> dict:
    return {"url": f"https://news.example/{n}?a=1&b=<2>", "title": title, "feed": feed, "published": None,
            "rules": list(rules), "story": story, "first_seen": f"2026-03-0{day}T10:00:00Z", "id": n,
            "guid": f"g{n}", "feed_url": "https://feeds.example/x.xml", "text_source": "page",
            "snippet": "Minsk <script>alert(1)</script> freed & pardoned", "alerted": False, "language": "en"}


def valid(feed: bytes) -> feedparser.FeedParserDict:
    document = etree.fromstring(feed)
    assert SCHEMA.validate(document), SCHEMA.error_log
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def test_schema_refuses_what_rfc_4287_refuses():
    good = hits_feed([hit(1, "s1", "Wire", "A title")])
    assert SCHEMA.validate(etree.fromstring(good))
    for broken in (good.replace(b"<id>tag:news-monitor,2026:hits</id>", b""),  # a feed needs its id
                   good.replace(b"2026-03-01T10:00:00Z", b"2026-03-01 10:00"),  # not RFC 3339
                   good.replace(b'rel="alternate"', b'rel="alternate" hreflang="not a language"')):
        assert not SCHEMA.validate(etree.fromstring(broken))


def test_one_entry_per_story_with_outlets_and_everything_escaped():
    records = [hit(1, "s1", "Wire", HOSTILE, day=1), hit(2, "s1", "Радыё & Co", "Освобождены 18", day=3),
               hit(3, "s2", "Defence Desk", "Zapad drills open", rules=("zapad",), day=2)]
    parsed = valid(hits_feed(records))
    assert [e.id for e in parsed.entries] == ["tag:news-monitor,2026:hits/story/s1",
                                              "tag:news-monitor,2026:hits/story/s2"]
    first = parsed.entries[0]
    assert first.title == HOSTILE.replace("\x01", "").replace("\x0b", "")  # text, not markup: shown as written
    assert first.link == "https://news.example/1?a=1&b=<2>"
    assert "Outlets: Wire, Радыё & Co" in first.summary and "<script>" in first.summary  # text, escaped in XML
    assert first.updated == "2026-03-03T10:00:00Z" and first.published == "2026-03-01T10:00:00Z"
    assert [t.term for t in parsed.entries[1].tags] == ["zapad"]


def test_release_entries_carry_the_facts():
    record = {"story": "7", "date": "2026-03-09", "number": 18, "names": ["Ales Bialiatski", "Мария Колесникова"],
              "destination": "Lithuania", "broker": "John Coale", "sources": 4, "first_seen": "2026-03-09T12:00:00Z",
              "title": "Minsk frees 18 <political> prisoners", "url": "https://news.example/r", "alerted": True}
    parsed = valid(releases_feed([record, {**record, "story": "8", "number": None, "names": [], "date": None,
                                           "destination": None, "broker": None}]))
    summary = parsed.entries[0].summary
    for fact in ("Released: 18", "Date: 2026-03-09", "Names: Ales Bialiatski, Мария Колесникова", "To: Lithuania",
                 "Brokered by: John Coale", "Reports: 4"):
        assert fact in summary
    assert "number not stated" in parsed.entries[1].summary
    assert valid(releases_feed([])).entries == []


def test_a_cycle_writes_both_feeds_and_export_prints_them(site, write_config, tmp_path):
    feeds = [{"url": site.url(p), "name": p.split("/")[-1].split(".")[0]}
             for p in ("/feeds/northwire.xml", "/feeds/minsk-monitor.atom")]
    config = write_config(feeds)
    report, _ = cycle(config, datetime.now(UTC))
    assert report.hits
    state = tmp_path / "state"
    hits = valid((state / "hits.atom").read_bytes())
    assert hits.entries and all(e.summary.startswith("Outlets: ") for e in hits.entries)
    valid((state / "releases.atom").read_bytes())
    assert not list(state.glob("*.partial"))
    printed = CliRunner().invoke(main, ["--config", str(config), "export", "atom", "hits"])
    assert printed.exit_code == 0 and valid(printed.stdout_bytes).entries
    rule = hits.entries[0].tags[0].term
    only = valid(CliRunner().invoke(main, ["--config", str(config), "export", "atom", "hits", "--rule", rule])
                 .stdout_bytes)
    assert only.feed.title == f"news-monitor hits: {rule}"
    assert all(rule in [t.term for t in e.tags] for e in only.entries)


def test_an_entry_lists_the_outlets_of_the_articles_that_hit_only(tmp_path):
    """A story of four reports: two articles that hit (different rules), one that did not, and a syndicated
    copy. The entry names the outlets of the hitting articles; with --rule, of those that hit that rule."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def report(n: int, outlet: str, title: str) -> Article:
        item = FeedItem(feed_url="https://news.example/feed", feed_name="Aggregator", guid=f"g{n}",
                        url=f"https://news.example/{n}", title=title, summary="", published=None, source_name=outlet)
        return Article(item=item, title=title, text=title, text_source="page")

    def hits(rule: str) -> list[Hit]:
        return [Hit(rule=rule, evidence=(), alert=False, snippet=rule)]

    with Store.open(tmp_path / "monitor.db") as store:
        first = store.add_article(report(1, "Nasha Niva", "Minsk frees 14 prisoners"), "g1", "u1",
                                  hits("belarus_political_prisoners"), now)
        store.add_article(report(2, "Sidebar Daily", "Markets close higher"), "g2", "u2", [],
                          now + timedelta(minutes=1), story=first)
        store.add_article(report(3, "Defence Desk", "Freed prisoners cross into Lithuania near Zapad drills"), "g3",
                          "u3", hits("zapad_exercise"), now + timedelta(minutes=2), story=first)
        store.add_source(first, report(4, "Copy Desk", "Minsk frees 14 prisoners"), "g4", "u4",
                         now + timedelta(minutes=3), "the same text")
        every = valid(hits_feed(hit_records(store))).entries
        only = valid(hits_feed(hit_records(store, rule="belarus_political_prisoners"))).entries
    assert len(every) == 1 and len(only) == 1
    assert every[0].summary.splitlines()[0] == "Outlets: Nasha Niva, Defence Desk"
    assert "Sidebar Daily" not in every[0].summary and "Copy Desk" not in every[0].summary
    assert only[0].summary.splitlines()[0] == "Outlets: Nasha Niva"
    assert "Defence Desk" not in only[0].summary


def test_the_feed_written_after_a_cycle_reads_only_the_newest_stories_and_is_the_same(tmp_path, monkeypatch):
    """state/hits.atom is built from the rows of the newest stories only (store.hits_of_latest_stories), not from
    every hit of 30 days: the feed is byte for byte the one built from every hit record of the window, for feeds
    of 1, 7 and 40 entries, windows of 1 and 30 days, on 300 articles in stories of 1 to 6 reports with many
    moments shared, hits added by a later update, articles without a story (legacy rows, one of them sharing its
    id's key with a story) and articles without hits."""
    import monitor.atom as atom
    from monitor.records import latest_hit_records

    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)

    def report(n: int) -> Article:
        item = FeedItem(feed_url=f"https://feeds.example/{n % 7}.xml", feed_name=f"Outlet {n % 7}", guid=f"g{n}",
                        url=f"https://news.example/{n}", title=f"Report {n}", summary="", published=None)
        return Article(item=item, title=item.title, text=f"Report {n} from Minsk.", text_source="page")

    with Store.open(tmp_path / "monitor.db") as store:
        story = None
        for n in range(300):
            seen = now - timedelta(hours=(n * 37) % 900 // 3)  # ~300 moments over 12 days, out of id order
            hits = [Hit(rule=("zapad", "coale", "sanctions")[n % 3], evidence=(), alert=False, snippet=f"s{n}")]
            if n % 5 == 4:
                hits = []
            made = store.add_article(report(n), f"g{n}", f"u{n}", hits, seen,
                                     story=story if n % 6 and story is not None else None)
            story = story if n % 6 else made
            if n % 23 == 0:  # the publisher changed it later, and it hit another rule then
                store.update_article(made, report(n), [Hit("belarus_political_prisoners", (), False, "u")],
                                     now - timedelta(hours=n % 5), fingerprint=None, features=None, facts=None,
                                     item_hash=None)
        store.db.execute("UPDATE articles SET story = NULL WHERE id IN (7, 61, 62, 150)")  # 7 leads story 7 too
        for days in (1, 30):
            since = now - timedelta(days=days)
            every = hit_records(store, since=since)
            for entries in (1, 7, 40):
                monkeypatch.setattr(atom, "MAX_ENTRIES", entries)
                chosen = latest_hit_records(store, since, entries)
                assert hits_feed(chosen, updated="2026-03-20T12:00:00Z") == hits_feed(every,
                                                                                       updated="2026-03-20T12:00:00Z")
                assert hits_feed(chosen) == hits_feed(every)
                assert len(chosen) < len(every) or days == 1
        assert len(valid(hits_feed(every)).entries) == 40


def test_the_latest_stories_records_with_ties_and_articles_updated_inside_the_window(tmp_path):
    """The records of the latest stories give the feed (and every shorter feed) that every hit record of the
    window gives: with stories tied on their latest report at each cut, articles first seen before the window
    whose hits came inside it (an update), and hits before the window."""
    import random

    from monitor.atom import MAX_ENTRIES
    from monitor.records import latest_hit_records

    rng = random.Random(4)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    since = start + timedelta(days=2)

    def report(n: int) -> Article:
        item = FeedItem("https://news.example/feed", f"Outlet {n % 7}", f"g{n}", f"https://news.example/{n}",
                        f"Report {n}", "", None)
        return Article(item=item, title=item.title, text=item.title, text_source="page")

    def top(records: list[dict], k: int) -> list[tuple[str, list[int]]]:
        """The stories a feed of k entries shows, as hits_feed orders them, with their reports."""
        stories: dict[str, list[dict]] = {}
        for record in sorted(records, key=lambda r: r["first_seen"]):
            stories.setdefault(str(record["story"] or record["id"]), []).append(record)
        ranked = sorted(stories.items(), key=lambda s: s[1][-1]["first_seen"], reverse=True)
        return [(story, [r["id"] for r in reports]) for story, reports in ranked[:k]]

    with Store.open(tmp_path / "monitor.db") as store:
        ids: list[int] = []
        seen_at: dict[int, datetime] = {}
        for n in range(900):
            seen = start + timedelta(minutes=10 * rng.randrange(600))  # whole ten minutes: many ties
            story = rng.choice(ids) if ids and rng.random() < 0.4 else None
            hits = [Hit("zapad_exercise", (), False, "s")] if rng.random() < 0.6 else []
            article_id = store.add_article(report(n), f"g{n}", f"u{n}", hits, seen, story=story)
            ids.append(article_id)
            seen_at[article_id] = seen
        for article_id in rng.sample(ids, 60):  # articles changed later: their new hits come then
            store.update_article(article_id, report(10_000 + article_id), [Hit("coale", (), False, "c")],
                                 seen_at[article_id] + timedelta(minutes=10 * rng.randrange(1, 300)),
                                 fingerprint=None, features=None, facts=None, item_hash=None)
        every = hit_records(store, since=since)
        assert len({str(r["story"] or r["id"]) for r in every}) > MAX_ENTRIES
        assert hits_feed(latest_hit_records(store, since, MAX_ENTRIES)) == hits_feed(every)
        for k in (1, 2, 5, 17, 60, 150, 10_000):
            assert top(latest_hit_records(store, since, k), k) == top(every, k)
