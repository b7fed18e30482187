"""Retention: `prune` drops old text and articles without hits and delivered messages, and keeps every hit,
its article, and the release ledger; `--dry-run` changes nothing; nothing is dropped without `retention:`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from monitor.store import Store, iso
from tests.helpers import cli, cycle


def snapshot(db):
    with Store.open(db) as store:
        hits = [(h["id"], h["rules"], h["title"], h["snippet"]) for h in store.hits()]
        ledger = [(e["story"], e["sources"], e["facts"]) for e in store.release_stories()]
        return hits, ledger, store.counts()


def test_prune_keeps_every_hit_and_the_ledger(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}, {"url": site.url("/feeds/minsk-monitor.atom")}],
                          extract={"workers": 0})
    cycle(config, now=datetime(2025, 6, 1, 12, 0, tzinfo=UTC))  # long before today: all of it is old
    db = config.parent / "state" / "monitor.db"
    hits, ledger, counts = snapshot(db)
    assert hits and counts["articles"] > len(hits), "the fixture needs articles with and without hits"

    assert "nothing is dropped" in cli(config, "prune").stdout  # no retention configured
    data = yaml.safe_load(config.read_text())
    data["retention"] = {"article_text": "30d", "non_hit_articles": "180d", "delivered_messages": "90d"}
    config.write_text(yaml.safe_dump(data))

    dry = cli(config, "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(f"would drop: text of {counts['articles'] - len(hits)} articles without hits, "
                                 f"{counts['articles'] - len(hits)} articles without hits, ")
    assert snapshot(db) == (hits, ledger, counts)

    done = cli(config, "prune")
    assert done.returncode == 0 and done.stdout.startswith("dropped: ") and "bytes freed" in done.stdout
    after_hits, after_ledger, after = snapshot(db)
    assert after_hits == hits and after_ledger == ledger  # every hit, its article and the ledger kept
    assert after["articles"] == len(hits) and after["hits"] == counts["hits"]
    assert after["messages"] < counts["messages"] or counts["messages"] == 0
    with Store.open(db) as store:  # nothing left that was not delivered
        assert all(d["status"] == "sent" for d in store.deliveries()) or store.counts()["deliveries"] == 0
    assert cli(config, "prune").stdout.startswith("dropped: text of 0 articles without hits, 0 articles")


# The query retention used before it read what it keeps from narrow indexes (issue 13), kept as the specification.
REPLACED_PRUNABLE = (
    "SELECT id FROM articles a WHERE a.first_seen < :cutoff "
    "AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.article_id = a.id) AND a.release_facts IS NULL "
    "AND (a.story IS NULL OR a.story NOT IN (SELECT story FROM articles WHERE story IS NOT NULL AND "
    "(release_facts IS NOT NULL OR id IN (SELECT article_id FROM hits)))) ")


def test_what_retention_may_drop_is_what_the_replaced_query_chose(tmp_path):
    """Every kind of article retention must tell apart, over 30 days, each picked at five cutoffs by the store's
    query and by the replaced one: the same ids, and `prune --dry-run`'s counts are theirs."""
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    with Store.open(tmp_path / "monitor.db") as store:
        _fill(store, now, 240)
        chosen = {}
        for days in (0, 3, 10, 20, 40):
            params = {"cutoff": iso(now - timedelta(days=days))}
            spec = [r[0] for r in store.db.execute(REPLACED_PRUNABLE + "ORDER BY id", params)]
            ours = [r[0] for r in store.db.execute(store._PRUNABLE + "ORDER BY id", params)]
            assert ours == spec
            chosen[days] = spec
            counted = store.prune(text_before=now - timedelta(days=days), articles_before=now - timedelta(days=days),
                                  messages_before=None, dry_run=True)
            with_text = store.db.execute(f"SELECT count(*) FROM articles WHERE id IN ({REPLACED_PRUNABLE}) AND "
                                         "(text IS NOT NULL OR summary IS NOT NULL)", params).fetchone()[0]
            assert counted == {"texts": with_text, "articles": len(spec), "messages": 0}
        assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 240  # a dry run drops nothing
    assert {KINDS[(r - 1) % len(KINDS)] for r in chosen[0]} == {"alone", "without a story", "text already dropped"}
    assert len(chosen[0]) == 90 and 0 < len(chosen[20]) < len(chosen[10]) < len(chosen[0]) and chosen[40] == []


KINDS = ["hit", "copy in a hit story", "release report without hits", "in a release story", "alone",
         "without a story", "release report without a story", "text already dropped"]


def _fill(store: Store, now: datetime, count: int, first: int = 0, hours: int = 3) -> None:
    """`count` articles of every kind, newest first seen at `now`, one every `hours` back."""
    from monitor.models import Article, FeedItem, Hit

    stories: dict[str, int] = {}
    for n in range(first, first + count):
        kind = KINDS[n % len(KINDS)]
        seen = now - timedelta(hours=hours * (n - first))
        item = FeedItem(feed_url="https://feeds.example/a.xml", feed_name="A", guid=f"g{n}",
                        url=f"https://news.example/{n}", title=f"Report {n}", summary="s", published=None)
        article = Article(item=item, title=item.title, text=f"Text {n}.", text_source="page")
        hits = [Hit("prisoners", (), alert=False)] if kind == "hit" else []
        facts = {"number": 3} if kind.startswith("release report") else None
        story = (stories.get("hit") if kind == "copy in a hit story"
                 else stories.get("release") if kind == "in a release story" else None)
        made = store.add_article(article, f"g{n}", f"u{n}", hits, seen, story=story, facts=facts)
        if kind == "hit" and ("hit" not in stories or n % 3 == 0):
            stories["hit"] = made  # later copies join the story of a recent hit
        if kind == "release report without hits":
            stories["release"] = made
        if "without a story" in kind:  # rows written before stories existed
            store.db.execute("UPDATE articles SET story = NULL WHERE id = ?", [made])
        if kind == "text already dropped":
            store.db.execute("UPDATE articles SET text = NULL, summary = NULL WHERE id = ?", [made])
        if kind == "copy in a hit story" and n % 5 == 1:  # a copy folded into it, dropped with its article
            store.db.execute("INSERT INTO sources (article_id, url, url_key, first_seen) VALUES (?, ?, ?, ?)",
                             [made, f"https://copy.example/{n}", f"c{n}", iso(seen)])


def _spec_prune(store: Store, text_before: datetime | None, articles_before: datetime | None) -> dict[str, int]:
    """Retention as the replaced query did it on every prune: every article older than each cutoff looked at."""
    out = {"texts": 0, "articles": 0}
    with store.transaction():
        if text_before is not None:
            where = (f"id IN ({REPLACED_PRUNABLE}) AND (text IS NOT NULL OR summary IS NOT NULL)")
            params = {"cutoff": iso(text_before)}
            out["texts"] = store.db.execute(f"SELECT count(*) FROM articles WHERE {where}", params).fetchone()[0]
            store.db.execute(f"UPDATE articles SET text = NULL, summary = NULL, story_features = NULL WHERE {where}",
                             params)
        if articles_before is not None:
            params = {"cutoff": iso(articles_before)}
            out["articles"] = store.db.execute(f"SELECT count(*) FROM ({REPLACED_PRUNABLE})", params).fetchone()[0]
            store.db.execute(f"DELETE FROM sources WHERE article_id IN ({REPLACED_PRUNABLE})", params)
            store.db.execute(f"DELETE FROM articles WHERE id IN ({REPLACED_PRUNABLE})", params)
    return out


def _state(store: Store) -> tuple:
    return (store.db.execute("SELECT id, story, text IS NULL, summary IS NULL, story_features IS NULL, release_facts "
                             "FROM articles ORDER BY id").fetchall(),
            store.db.execute("SELECT article_id, url FROM sources ORDER BY id").fetchall(),
            store.db.execute("SELECT article_id, rule FROM hits ORDER BY id").fetchall(),
            store.db.execute("SELECT rowid FROM article_search WHERE article_search MATCH 'text' ORDER BY rowid")
            .fetchall())


def _oldest(store: Store, where: str) -> int:
    return store.db.execute(f"SELECT id FROM articles a WHERE {where} ORDER BY first_seen, id LIMIT 1").fetchone()[0]


# what can make an article behind retention's marks droppable again, each done to both stores alike
def _lose_hit(store: Store, now: datetime) -> None:  # a hit story's hit removed: its old copies may go
    found = _oldest(store, "EXISTS (SELECT 1 FROM hits WHERE article_id = a.id) AND EXISTS (SELECT 1 FROM articles b "
                           "WHERE b.story = a.story AND b.id != a.id)")
    store.db.execute("DELETE FROM hits WHERE article_id = ?", [found])


def _lose_facts(store: Store, now: datetime) -> None:  # a release story's report no longer a release: the story may go
    found = _oldest(store, "release_facts IS NOT NULL AND story IS NOT NULL AND EXISTS (SELECT 1 FROM articles b "
                           "WHERE b.story = a.story AND b.id != a.id)")
    store.db.execute("UPDATE articles SET release_facts = NULL WHERE id = ?", [found])


def _text_back(store: Store, now: datetime) -> None:  # an old article whose text was dropped gets it again (an update)
    found = _oldest(store, "text IS NULL AND summary IS NULL AND NOT EXISTS (SELECT 1 FROM hits WHERE "
                           "article_id = a.id) AND id % 2 = 0")
    store.db.execute("UPDATE articles SET text = 'back again' WHERE id = ?", [found])


def _leave_story(store: Store, now: datetime) -> None:  # an old copy moved out of its hit story
    found = _oldest(store, "NOT EXISTS (SELECT 1 FROM hits WHERE article_id = a.id) AND EXISTS (SELECT 1 FROM "
                           "articles b JOIN hits h ON h.article_id = b.id WHERE b.story = a.story)")
    store.db.execute("UPDATE articles SET story = 'elsewhere' || id WHERE id = ?", [found])


def _gain_hit(store: Store, now: datetime) -> None:  # an old article without hits gets one (a backtest, an update)
    found = _oldest(store, "NOT EXISTS (SELECT 1 FROM hits WHERE article_id = a.id) AND release_facts IS NULL")
    store.db.execute("INSERT INTO hits (article_id, rule, first_seen) VALUES (?, 'late', '2026-02-20T00:00:00Z')",
                     [found])


def _delete_holder(store: Store, now: datetime) -> None:  # the release report of an old story deleted by hand
    found = store.db.execute(
        "SELECT id FROM articles a WHERE release_facts IS NOT NULL AND story IS NOT NULL AND NOT EXISTS (SELECT 1 "
        "FROM hits WHERE article_id = a.id) AND EXISTS (SELECT 1 FROM articles b WHERE b.story = a.story AND "
        "b.id != a.id) AND first_seen < ? ORDER BY first_seen DESC LIMIT 1",
        [iso(now - timedelta(days=23))]).fetchone()[0]
    store.db.execute("DELETE FROM articles WHERE id = ?", [found])


def _text_back_lately(store: Store, now: datetime) -> None:  # text back on an article dropped lately (12-16 days)
    found = store.db.execute(
        f"SELECT id FROM articles WHERE id IN ({REPLACED_PRUNABLE}) AND text IS NULL AND summary IS NULL AND "
        "first_seen < :lately ORDER BY first_seen DESC LIMIT 1",
        {"cutoff": iso(now), "lately": iso(now - timedelta(days=12))}).fetchone()[0]
    store.db.execute("UPDATE articles SET text = 'back again' WHERE id = ?", [found])


def _as_before_019(path) -> None:
    """The store as a monitor from before migration 019 left it: its tables, triggers and record gone."""
    with Store.open(path) as store, store.transaction():
        for (name,) in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE "
                                        "'retention%'").fetchall():
            store.db.execute(f"DROP TRIGGER {name}")
        store.db.execute("DROP TABLE retention_marks")
        store.db.execute("DROP TABLE retention_changes")
        store.db.execute("DELETE FROM _migrations WHERE name = '019_retention_marks'")


@pytest.mark.parametrize("migrated", [False, True], ids=["new store", "store migrated from before 019"])
def test_retention_marks_drop_what_the_replaced_query_dropped_on_every_prune(tmp_path, migrated):
    """Two stores filled alike, pruned over 16 days with changing retention, one by the store (marks and notes,
    migration 019), the other by the replaced query reading every old article; between prunes, new articles
    and every change that can make an article behind the marks droppable again. Each dry run counts what the
    replaced query drops, and after each prune both stores hold the same rows, copies, hits and search entries.
    Also for a store filled before 019 existed (its first prune reads everything, then marks)."""
    start = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    for name in ("marked.db", "spec.db"):
        with Store.open(tmp_path / name) as store:
            _fill(store, start, 240)
    if migrated:
        _as_before_019(tmp_path / "marked.db")
    stores = [Store.open(tmp_path / "marked.db"), Store.open(tmp_path / "spec.db")]
    assert "019_retention_marks" in {r[0] for r in stores[0].db.execute("SELECT name FROM _migrations")}
    day = timedelta(days=1)
    # (day, text days, article days, a change made first); None: that part not configured
    steps = [(0, 10, 20, None), (1, 10, 20, None), (2, 10, 20, _lose_hit), (3, 10, 20, _lose_facts),
             (4, 10, 20, _text_back), (5, 10, 20, _leave_story), (6, 10, 20, _gain_hit), (7, 10, 20, _delete_holder),
             (8, 16, 25, _text_back),  # a longer retention: behind the marks only the noted
             (9, 16, 25, _text_back_lately), (10, 6, 9, _lose_hit),  # a shorter one drops what it should
             (11, None, 9, _text_back), (12, 6, 9, _text_back),  # texts not pruned a while: read whole again
             (13, 6, None, _leave_story), (14, 6, 9, _lose_facts), (15, 6, 9, None)]
    fed = 240
    counted, last = [], {}
    for n, text_days, article_days, change in steps:
        now = start + n * day
        if n:  # a day of new articles, one every 3 hours
            for store in stores:
                _fill(store, now, 8, first=fed)
            fed += 8
        for store in stores:
            if change is not None:
                with store.transaction():
                    change(store, now)
        text_before = None if text_days is None else now - text_days * day
        articles_before = None if article_days is None else now - article_days * day
        marked, spec = stores
        assert _state(marked) == _state(spec)
        dry = marked.prune(text_before=text_before, articles_before=articles_before, messages_before=None,
                           dry_run=True)
        assert _state(marked) == _state(spec)  # a dry run changes nothing
        done = marked.prune(text_before=text_before, articles_before=articles_before, messages_before=None)
        expected = _spec_prune(spec, text_before, articles_before)
        assert {k: dry[k] for k in expected} == expected, (n, change)
        assert {k: done[k] for k in expected} == expected, (n, change)
        assert _state(marked) == _state(spec), (n, change)
        counted.append(expected)
        marks = dict(marked.db.execute("SELECT part, upto FROM retention_marks"))
        assert marks.keys() == {part for part, cutoff in (("texts", text_before), ("articles", articles_before))
                                if cutoff is not None}
        for part, cutoff in (("texts", text_before), ("articles", articles_before)):  # never moved back
            if cutoff is not None:
                assert marks[part] == max(iso(cutoff), last.get(part, ""))
        last = marks
    assert marked.db.execute("SELECT count(*) FROM retention_marks").fetchone()[0] == 2
    # the walk was not empty: each part dropped something on most days, and changes behind the marks counted
    assert sum(1 for c in counted if c["texts"]) >= 8 and sum(1 for c in counted if c["articles"]) >= 8
    assert counted[4]["texts"] >= 1 and counted[10]["texts"] >= 1 and counted[7]["articles"] >= 1
    for store in stores:
        store.close()


def test_a_store_marked_reads_only_what_aged_since(tmp_path):
    """Behind its marks a prune reads only the notes: an old article that nothing changed is not a candidate
    (the marks are what bounds a prune's reading), and one that changed is."""
    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    with Store.open(tmp_path / "monitor.db") as store:
        _fill(store, now, 240)
        store.prune(text_before=now - timedelta(days=10), articles_before=now - timedelta(days=20),
                    messages_before=None)
        marks = dict(store.db.execute("SELECT part, upto FROM retention_marks"))
        where, params = store._prunable(marks, "texts", now - timedelta(days=10))
        candidates = "SELECT a.id FROM articles a WHERE " + where.split(" AND a.first_seen < :cutoff")[0]
        assert store.db.execute(candidates, params).fetchall() == []
        with store.transaction():
            _text_back(store, now)
        assert len(store.db.execute(candidates, params).fetchall()) == 1
