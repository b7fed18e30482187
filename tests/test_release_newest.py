"""The newest release stories (`Store.release_stories(limit=...)`, the Atom ledger's 200 and `releases --limit`)
picked from the release ledger by first date (migration 020) before any are counted: the same stories, facts and
counts as the query that sorted and counted every release story, kept here as the spec, whatever was written."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.store import Store, iso
from tests.release_store import START, fill, plans

# Store.release_stories before migration 020: every release story counted, then the newest taken
SPEC = ("SELECT s.id AS story, s.first_seen, s.alerted_rules, "
        "(SELECT count(*) FROM articles WHERE story = s.id) + (SELECT count(*) FROM sources src "
        " JOIN articles a ON a.id = src.article_id WHERE a.story = s.id) AS sources "
        "FROM stories s WHERE s.id IN (SELECT story FROM articles WHERE release_facts IS NOT NULL) {since} "
        "ORDER BY s.first_seen DESC, s.id DESC LIMIT ?")


def spec(store: Store, limit: int, since: datetime | None = None) -> list[dict]:
    params = ([iso(since)] if since else []) + [limit]
    rows = list(store.db.query(SPEC.format(since="AND s.first_seen >= ?" if since else ""), params))[::-1]
    ids = [row["story"] for row in rows]
    firsts, facts = store._first_reports(ids), store._release_facts(ids)
    return [{**row, "title": firsts[row["story"]]["title"], "url": firsts[row["story"]]["url"],
             "alerted": bool(json.loads(row["alerted_rules"] or "[]")), "facts": facts[row["story"]]}
            for row in rows]


def outcome(read) -> object:
    """What `read` gives, or the error it raises (facts that are not JSON fail both alike when shown)."""
    try:
        return read()
    except ValueError as error:
        return type(error)


def assert_newest_are_the_spec(store: Store) -> None:
    for limit in (1, 2, 3, 5, 200):
        for since in (None, START + timedelta(days=4), START + timedelta(days=40)):
            assert outcome(functools.partial(store.release_stories, limit=limit, since=since)) == \
                outcome(functools.partial(spec, store, limit, since)), (limit, since)


def test_the_newest_release_stories_are_the_spec_through_every_kind_of_write(tmp_path):
    with Store.open(tmp_path / "monitor.db") as store:
        assert_newest_are_the_spec(store)  # empty
        fill(store)
        assert [s["story"] for s in store.release_stories(limit=3)] == ["5", "6", "7"]
        assert_newest_are_the_spec(store)
        db = store.db
        steps = [
            # facts a hand wrote that are not JSON: the ledger leaves the story out, the newest still have it
            lambda: db.execute("UPDATE articles SET release_facts = '{not json' WHERE guid_key = 'g0'"),
            lambda: db.execute("UPDATE stories SET first_seen = '2027-01-01T00:00:00Z' WHERE id = '1'"),
            lambda: db.execute("UPDATE stories SET first_seen = '2027-01-01T00:00:00Z' WHERE id = '4'"),  # a tie
            lambda: db.execute("UPDATE stories SET first_seen = NULL WHERE id = '7'"),
            lambda: db.execute("UPDATE articles SET release_facts = 'null' WHERE guid_key = 'g3'"),  # JSON, no facts
            lambda: db.execute("UPDATE articles SET story = '2' WHERE guid_key = 'g2'"),  # a report changes story
            lambda: db.execute("DELETE FROM stories WHERE id = '6'"),  # its articles keep a story nobody has
            lambda: db.execute("UPDATE articles SET release_facts = '[' WHERE story = '3'"),  # every report torn
            lambda: db.execute("UPDATE articles SET release_facts = NULL WHERE guid_key = 'g0'"),
            lambda: db.execute("INSERT INTO stories (id, first_seen) VALUES ('6', '2026-03-30T00:00:00Z')"),
        ]
        for n, step in enumerate(steps):
            step()
            assert_newest_are_the_spec(store), n
        # a story whose only reports are torn is a release story still: shown, it fails as it did
        assert outcome(lambda: store.release_stories(limit=200)) is json.JSONDecodeError
        assert [s["story"] for s in store.release_stories(limit=2)] == ["6", "4"]  # (story 1 has no report left)


@pytest.mark.parametrize("stories", [1, 250])
def test_many_release_stories_at_one_moment(tmp_path, stories):
    """Ties in the first date are broken by the story id, as the spec breaks them (text order)."""
    with Store.open(tmp_path / "monitor.db") as store:
        reports = [(k, {"number": k, "names": [], "date": None, "language": "en"}) for k in range(1, stories + 1)]
        fill(store, reports)
        store.db.execute("UPDATE stories SET first_seen = ?", [iso(datetime(2026, 5, 1, tzinfo=UTC))])
        assert_newest_are_the_spec(store)


def test_the_newest_are_read_along_indexes(tmp_path):
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store)
        steps = plans(store, lambda: store.release_stories(limit=2))
        assert any("release_ledger_newest" in step for step in steps), steps
        assert any("articles_release_unreadable" in step for step in steps), steps
        assert not [step for step in steps if step.startswith("SCAN s ")], steps  # not every story
