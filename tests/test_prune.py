"""Retention: `prune` drops old text and articles without hits and delivered messages, and keeps every hit,
its article, and the release ledger; `--dry-run` changes nothing; nothing is dropped without `retention:`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    from monitor.models import Article, FeedItem, Hit

    now = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    kinds = ["hit", "copy in a hit story", "release report without hits", "in a release story", "alone",
             "without a story", "release report without a story", "text already dropped"]
    with Store.open(tmp_path / "monitor.db") as store:
        stories: dict[str, int] = {}
        for n in range(240):
            kind = kinds[n % len(kinds)]
            seen = now - timedelta(hours=3 * n)
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
    assert {kinds[(r - 1) % len(kinds)] for r in chosen[0]} == {"alone", "without a story", "text already dropped"}
    assert len(chosen[0]) == 90 and 0 < len(chosen[20]) < len(chosen[10]) < len(chosen[0]) and chosen[40] == []
