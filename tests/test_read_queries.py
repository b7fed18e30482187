"""The read commands' queries stay index-bound as the store grows (issue 14): the release ledger summed in SQL
gives the line the per-story merge gives; `releases` pages (newest N on screen, every one with --json); the
queries behind `hits --since`, the ledger and `releases --limit` walk an index, never a whole table.
Figures at 1,000,000 articles: bench/bench_queries.py."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import timedelta

from monitor.digest import ledger_line
from monitor.models import Article, FeedItem
from monitor.records import RELEASE_FIELDS
from monitor.store import Store
from tests.helpers import cli
from tests.release_store import REPORTS, START, fill, plans


def test_the_ledger_summed_in_sql_is_the_line_the_merge_gives(tmp_path):
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store)
        stories = store.release_stories()
        counted, to_merge = store.release_ledger()
        # the plain single reports are summed in SQL; several reports, or several names without a number, merged
        assert counted[0] == 4 and {s["story"] for s in to_merge} == {"2", "3", "7"}
        assert ledger_line(to_merge, counted) == ledger_line(stories)
        assert ledger_line(stories) == "7 releases reported since Feb 2026, 34 people"
    with Store.open(tmp_path / "empty.db") as store:
        assert store.release_ledger() == ((0, 0, None), []) and ledger_line([], (0, 0, None)) == ""



# The ledger's read before migration 017, kept as the spec: every release report grouped by story and joined to
# `stories` at read time. The per-story table the writes keep must always give what this gives.
SPEC_SIMPLE = "r.n = 1 AND (coalesce(r.num, 0) != 0 OR coalesce(r.names, 0) <= 1)"
SPEC_LEDGER = (
    "WITH r AS (SELECT story, count(*) AS n, json_extract(release_facts, '$.number') AS num, "
    "json_array_length(release_facts, '$.names') AS names, json_extract(release_facts, '$.date') AS date "
    "FROM articles WHERE release_facts IS NOT NULL GROUP BY story) "
    "SELECT 'totals', count(*), coalesce(sum(CASE WHEN coalesce(r.num, 0) != 0 THEN r.num "
    "ELSE coalesce(r.names, 0) END), 0), "
    "min(coalesce(nullif(r.date, ''), nullif(substr(s.first_seen, 1, 10), ''))) "
    f"FROM r JOIN stories s ON s.id = r.story WHERE {SPEC_SIMPLE} "
    f"UNION ALL SELECT 'merge', r.story, s.first_seen, NULL FROM r JOIN stories s ON s.id = r.story "
    f"WHERE NOT ({SPEC_SIMPLE})")


def spec_ledger(store: Store) -> tuple[tuple, list[dict]]:
    rows = store.db.execute(SPEC_LEDGER).fetchall()
    counted = next(tuple(row[1:]) for row in rows if row[0] == "totals")
    others = sorted(({"story": story, "first_seen": seen} for part, story, seen, _ in rows if part == "merge"),
                    key=lambda o: (o["first_seen"] is not None, o["first_seen"] or "", o["story"]))
    facts = store._release_facts([o["story"] for o in others])
    return counted, [{**o, "facts": facts[o["story"]]} for o in others]


def assert_ledger_is_the_spec(store: Store) -> None:
    kept, spec = store.release_ledger(), spec_ledger(store)
    assert kept == spec
    assert ledger_line(kept[1], kept[0]) == ledger_line(store.release_stories())


def test_the_kept_ledger_is_the_join_it_replaced_through_every_kind_of_write(tmp_path):
    """Migration 017's triggers keep one row per release story: whatever writes the articles or the stories
    (the store's own writes, an update by hand, retention), the ledger is what grouping and joining gives."""
    with Store.open(tmp_path / "monitor.db") as store:
        assert_ledger_is_the_spec(store)  # empty
        fill(store)
        assert_ledger_is_the_spec(store)
        assert store.release_ledger()[0] == (4, 16, "2026-02-27")
        db = store.db
        steps = [
            # the publisher's new text reports a number: story 7 (three names, no number) becomes plain
            lambda: store.update_article(_id(db, 9), _article(9), [], START, fingerprint=None, features=None,
                                         facts={"number": 5, "names": [], "date": None, "language": "en",
                                                "destination": None, "broker": None},
                                         item_hash=None),
            lambda: db.execute("UPDATE articles SET story = '1' WHERE id = ?", [_id(db, 3)]),  # story 4 joins 1
            lambda: db.execute("UPDATE articles SET release_facts = NULL WHERE id = ?", [_id(db, 0)]),
            lambda: db.execute("UPDATE stories SET first_seen = '2025-12-31T23:00:00Z' WHERE id = '5'"),  # no date
            lambda: db.execute("UPDATE stories SET id = '50' WHERE id = '5'"),  # its articles lose their story
            lambda: db.execute("UPDATE articles SET story = '50' WHERE story = '5'"),  # and find it again
            lambda: (db.execute("DELETE FROM hits WHERE article_id = ?", [_id(db, 1)]),
                     db.execute("DELETE FROM articles WHERE id = ?", [_id(db, 1)])),  # story 2's only report
            lambda: db.execute("DELETE FROM stories WHERE id = '6'"),
            lambda: db.execute("INSERT INTO stories (id, first_seen, last_seen) VALUES ('6', '2026-01-01', NULL)"),
            lambda: db.execute("UPDATE articles SET story = NULL WHERE story = '3'"),
        ]
        for n, step in enumerate(steps):
            step()
            try:
                assert_ledger_is_the_spec(store)
            except AssertionError as exc:
                raise AssertionError(f"after step {n}") from exc
        assert store.release_ledger()[0][0] > 0


# The ledger's plain totals before migration 022, kept as the spec: every plain row summed at read time.
SPEC_TOTALS = "SELECT count(*), coalesce(sum(people), 0), min(day) FROM release_ledger WHERE simple = 1"


def test_the_kept_totals_are_the_sum_they_replaced_with_odd_counts_and_hand_edits(tmp_path):
    """Migration 022 keeps the plain totals (stories, people) by triggers on the ledger: whatever writes it (the
    ledger's own triggers, or a hand), the totals are the sum; a plain row whose people is not an integer (facts
    written by hand) makes the store sum the rows until it is gone, so even its type is the sum's."""
    with Store.open(tmp_path / "monitor.db") as store:
        db = store.db

        def add(n: int, number) -> None:
            item = FeedItem("https://wire.example/feed", "Wire", f"odd{n}", f"https://wire.example/odd/{n}",
                            f"Odd report {n}", "", START)
            store.add_article(Article(item=item, title=item.title, text="Freed.", text_source="page"), f"odd{n}",
                              f"oddu{n}", [], START + timedelta(days=20 + n), story=100 + n,
                              facts={"number": number, "names": [], "date": None, "language": "en"})

        fill(store)
        steps = [
            lambda: add(1, "7"),  # a number written as text: summed as SQLite sums it (7.0)
            lambda: add(2, 2.5),
            lambda: db.execute("DELETE FROM articles WHERE guid_key = 'odd1'"),
            lambda: db.execute("UPDATE articles SET release_facts = NULL WHERE guid_key = 'odd2'"),
            lambda: add(3, 9),
            lambda: db.execute("UPDATE release_ledger SET people = people + 1 WHERE simple = 1"),  # by hand
            lambda: db.execute("UPDATE release_ledger SET simple = 0 WHERE story = '103'"),
            lambda: db.execute("UPDATE release_ledger SET simple = 1, people = 4 WHERE story = '103'"),
            lambda: db.execute("DELETE FROM release_ledger WHERE simple = 1 AND story = '1'"),
        ]
        assert store.release_ledger()[0] == tuple(db.execute(SPEC_TOTALS).fetchone())
        for n, step in enumerate(steps):
            step()
            kept, spec = store.release_ledger()[0], tuple(db.execute(SPEC_TOTALS).fetchone())
            assert kept == spec and [type(v) for v in kept] == [type(v) for v in spec], f"after step {n}"
            if n == 1:  # "7" and 2.5: two plain rows whose people is not an integer
                assert db.execute("SELECT odd FROM release_totals").fetchone()[0] == 2
        assert db.execute("SELECT odd FROM release_totals").fetchone()[0] == 0  # the kept totals are read again
        assert store.release_ledger()[0][:2] == tuple(db.execute("SELECT stories, people FROM release_totals")
                                                     .fetchone())


def test_the_kept_ledger_is_filled_for_a_store_written_before_it(tmp_path):
    path = tmp_path / "monitor.db"
    with Store.open(path) as store:  # a store as it was before migration 017: no kept ledger (nor its totals, 022)
        for name in [r[0] for r in store.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'release_ledger%'")]:
            store.db.execute(f"DROP TRIGGER {name}")
        store.db.execute("DROP TABLE release_ledger")
        store.db.execute("DROP TABLE release_totals")
        store.db.execute("DELETE FROM _migrations WHERE name IN ('017_release_ledger', '022_release_totals')")
        fill(store)
    with Store.open(path) as store:
        assert_ledger_is_the_spec(store)
        assert store.release_ledger()[0] == (4, 16, "2026-02-27")


def _id(db, n: int) -> int:
    """The id of the n-th article `fill` stored."""
    return db.execute("SELECT id FROM articles WHERE guid_key = ?", [f"g{n}"]).fetchone()[0]


def _article(n: int) -> Article:
    item = FeedItem("https://wire.example/feed", "Wire", f"g{n}", f"https://wire.example/a/{n}", f"Report {n}", "",
                    START)
    return Article(item=item, title=item.title, text="Belarus freed five political prisoners.", text_source="page",
                   language="en")

def test_releases_newest_first_pages_and_windows(tmp_path):
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store)
        every = store.release_stories()
        assert [s["story"] for s in every] == ["1", "2", "3", "4", "5", "6", "7"]
        assert store.release_stories(limit=3) == every[-3:]  # the newest three, still oldest first
        assert store.release_stories(limit=100) == every
        assert [s["story"] for s in store.release_stories(since=START + timedelta(days=7))] == ["6", "7"]
        assert store.count_release_stories() == 7 and store.count_release_stories(START + timedelta(days=7)) == 2
        story3 = every[2]
        assert story3["title"] == "Report 2 of story 3" and story3["sources"] == 3
        assert [f["number"] for f in story3["facts"]] == [14, 15, 14]
        story6 = every[5]  # its first article (no release) gives the headline; its release report the facts
        assert story6["title"] == "Report 7 of story 6" and [f["number"] for f in story6["facts"]] == [3]


def test_releases_command_pages_on_screen_and_keeps_the_json_contract(write_config):
    config = write_config([])
    with Store.open(config.parent / "state" / "monitor.db") as store:
        fill(store)
    shown = cli(config, "releases", "--limit", "2")
    assert shown.returncode == 0, shown.stderr
    assert re.findall(r"^\S+ +\S+ released", shown.stdout, re.M) and shown.stdout.count(" released ") == 2
    assert "the newest 2 of 7 releases; --all or --limit N for more" in shown.stdout
    everything = cli(config, "releases")  # 7 < the 50 shown by default: no footer
    assert everything.stdout.count(" released ") == 7 and "newest" not in everything.stdout
    records = [json.loads(line) for line in cli(config, "releases", "--json").stdout.splitlines()]
    assert len(records) == 7 and all(tuple(r) == RELEASE_FIELDS for r in records)  # same fields, every story
    assert [r["number"] for r in records] == [12, None, 14, 0, None, 3, None]
    newest = [json.loads(line) for line in cli(config, "releases", "--json", "--limit", "2").stdout.splitlines()]
    assert newest == records[-2:]
    assert cli(config, "releases", "--since", "1d").stdout == "no releases first seen in the last 1d\n"  # older
    bad = cli(config, "releases", "--since", "soon")
    assert bad.returncode != 0 and "--since" in bad.stderr


def test_read_queries_walk_indexes_not_whole_tables(tmp_path):
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store)
        full_scan = re.compile(r"^SCAN (?!r  )\w+  <-")  # a table read whole (r: a materialized subquery's rows)
        for read in (lambda: store.hits(since=START + timedelta(days=5)), store.release_ledger,
                     lambda: store.hits(rule="belarus-political-prisoners"),
                     lambda: store.article_ids_with("belarus-political-prisoners", since=START),
                     lambda: store.release_stories(limit=2), lambda: store.count_release_stories()):
            scans = [step for step in plans(store, read) if full_scan.match(step)]
            assert not scans, scans
        ledger = plans(store, store.release_ledger)
        assert any("articles_release_facts" in step for step in ledger)
        assert any("hits_first_seen" in step for step in plans(store, lambda: store.hits(since=START)))


def test_the_indexes_come_by_migration(tmp_path):
    with Store.open(tmp_path / "monitor.db"):
        pass
    names = {r[0] for r in sqlite3.connect(tmp_path / "monitor.db").execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"hits_first_seen", "articles_release_facts"} <= names


def test_what_every_cycle_reads_walks_indexes(tmp_path):
    """The hits waiting for an alert and the pending deliveries (read by every cycle, and the service's first
    tick), the kept story index's checks and tail (read by every process that stores articles): an index,
    never every hit, delivery or article (issue 13: their cost must not grow with the store)."""
    from monitor.decide import story_window

    with Store.open(tmp_path / "monitor.db") as store:
        fill(store)
        now = START + timedelta(days=len(REPORTS))
        since, releases = story_window(now)
        store.story_index(since, releases)  # kept
        upto = store.db.execute("SELECT max(id) FROM articles").fetchone()[0]
        # (the kept index's own tables are a few rows, its changes a day's, channel holds one per channel at
        # most; s: a materialized subquery's rows)
        full_scan = re.compile(r"^SCAN (?!(s|story_index|story_index_changes|channel_holds)  )\w+  <-")
        for read in (lambda: store.pending_items("alert"), lambda: store.pending_items("digest"),
                     lambda: store.pending_deliveries(now, ["file", "email"]),
                     lambda: store.story_index(since, releases), lambda: store._story_grew_back(upto, since, releases),
                     lambda: list(store._story_tail(upto, since, releases))):
            steps = plans(store, read)
            assert not [step for step in steps if full_scan.match(step)], steps
        assert any("hits_alert_pending" in step for step in plans(store, lambda: store.pending_items("alert")))
