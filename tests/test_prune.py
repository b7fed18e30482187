"""Retention: `prune` drops old text and articles without hits and delivered messages, and keeps every hit,
its article, and the release ledger; `--dry-run` changes nothing; nothing is dropped without `retention:`."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from monitor.store import Store
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
