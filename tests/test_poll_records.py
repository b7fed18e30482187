"""The poll bookkeeping at scale: a cycle writes its feeds' poll records in one batch (a handful of
prepared statements, never a per-feed savepoint with a fresh random name), an unchanged config is not
re-written every cycle, and a shortened interval takes effect from the next tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Feed
from monitor.polling import PollDecision
from monitor.store import Store
from tests.helpers import ROOT

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "monitor.db") as opened:
        yield opened


def feeds(n: int, interval: int = 900) -> list[Feed]:
    return [Feed(f"https://f{i}.example/feed.xml", f"Feed {i}", interval) for i in range(n)]


def decisions() -> list[tuple[str, PollDecision]]:
    return [
        ("https://f0.example/feed.xml", PollDecision(ok=True, next_check=NOW + timedelta(minutes=15), etag='"a"',
                                                     last_modified="Tue, 01 Dec 2026 11:00:00 GMT",
                                                     body_hash="h0", full_fetch=True)),
        ("https://f1.example/feed.xml", PollDecision(ok=True, next_check=NOW + timedelta(minutes=15))),
        ("https://f2.example/feed.xml", PollDecision(ok=False, next_check=NOW + timedelta(hours=1),
                                                     error="HTTP 503")),
        ("https://f3.example/feed.xml", PollDecision(ok=False, next_check=NOW + timedelta(hours=6),
                                                     error="HTTP 410 Gone", disable="HTTP 410 Gone")),
        ("https://f4.example/feed.xml", PollDecision(ok=True, next_check=NOW + timedelta(minutes=15),
                                                     moved_to="https://new.example/feed.xml")),
    ]


def test_a_batch_of_poll_records_equals_recording_them_one_by_one(tmp_path):
    with Store.open(tmp_path / "one.db") as one, Store.open(tmp_path / "batch.db") as batch:
        for store in (one, batch):
            store.sync_feeds(feeds(6))
        for _ in range(2):  # twice: error counts and failing_since accumulate alike
            for url, decision in decisions():
                one.record_poll(url, NOW, decision)
            batch.record_polls(decisions(), NOW)
        assert one.feed_health() == batch.feed_health()
        assert list(one.db.query("SELECT * FROM feeds ORDER BY url")) == \
            list(batch.db.query("SELECT * FROM feeds ORDER BY url"))
        row = next(r for r in batch.feed_health() if r["url"].startswith("https://f2."))
        assert row["errors"] == 2 and row["last_error"] == "HTTP 503"


def test_a_cycles_poll_records_take_a_few_statements_not_several_per_feed(store):
    store.sync_feeds(feeds(200))
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    store.sync_feeds(feeds(200))  # the config did not change: one read
    polls = [(f.url, PollDecision(ok=True, next_check=NOW + timedelta(minutes=15))) for f in feeds(200)]
    store.record_polls(polls, NOW)
    store.db.conn.set_trace_callback(None)
    assert not any("sqlite_utils_" in s for s in statements)  # no random savepoint names
    # 200 polls with the same outcome (a cycle of 304s): one UPDATE over the list of their URLs
    assert sum(s.startswith("UPDATE feeds") for s in statements) == 1
    assert len(statements) <= 5
    assert store.db.execute("SELECT count(*) FROM feeds WHERE last_ok = ?", ["2026-12-01T12:00:00Z"]).fetchone()[0] \
        == 200


def test_sync_feeds_adds_new_and_renames_only_what_changed(store):
    store.sync_feeds(feeds(3))
    store.record_poll("https://f1.example/feed.xml", NOW, PollDecision(ok=True, next_check=NOW, etag='"x"'))
    renamed = [*feeds(3)[:2], Feed("https://f2.example/feed.xml", "Renamed", 900),
               Feed("https://f9.example/feed.xml", "New", 900)]
    store.sync_feeds(renamed)
    rows = {r["url"]: r for r in store.db.query("SELECT url, name, etag FROM feeds")}
    assert rows["https://f2.example/feed.xml"]["name"] == "Renamed"
    assert rows["https://f9.example/feed.xml"]["name"] == "New"
    assert rows["https://f1.example/feed.xml"]["etag"] == '"x"'  # state kept


def test_nested_transactions_roll_back_only_the_inner_part(store):
    store.sync_feeds(feeds(1))
    with store.transaction():
        store.db.execute("UPDATE feeds SET name = 'outer'")
        with pytest.raises(RuntimeError), store.transaction():
            store.db.execute("UPDATE feeds SET name = 'inner'")
            with store.transaction():  # the same savepoint name nested again
                store.db.execute("UPDATE feeds SET errors = 7")
            raise RuntimeError("inner part fails")
        with store.transaction():
            store.db.execute("UPDATE feeds SET last_error = 'kept'")
    row = next(iter(store.db.query("SELECT name, errors, last_error FROM feeds")))
    assert row == {"name": "outer", "errors": 0, "last_error": "kept"}


def test_a_shortened_interval_applies_from_the_next_tick(store):
    store.sync_feeds(feeds(3, interval=3600))
    url_ok, url_failing, url_other = (f.url for f in feeds(3))
    store.record_poll(url_ok, NOW, PollDecision(ok=True, next_check=NOW + timedelta(hours=1)))
    store.record_poll(url_other, NOW, PollDecision(ok=True, next_check=NOW + timedelta(hours=1)))
    store.record_poll(url_failing, NOW, PollDecision(ok=False, next_check=NOW + timedelta(hours=1), error="HTTP 500"))
    later = NOW + timedelta(minutes=6)
    # the config now says 5 minutes for two of them
    intervals = {url_ok: 300, url_failing: 300, url_other: 3600}
    due = [s.url for s in store.due_feeds(later, intervals=intervals)]
    assert due == [url_ok]  # the failing feed keeps its backoff; the other keeps its hour
    assert [s.url for s in store.due_feeds(later)] == []  # without the configured intervals: the old plan
    assert [s.url for s in store.due_feeds(NOW + timedelta(minutes=4), intervals=intervals)] == []


def test_a_cycle_with_nothing_new_loads_no_copy_or_story_index(site, write_config):
    """An unchanged cycle (every feed 304 or known items) never reads the stored fingerprints and stories:
    its cost does not grow with the store."""
    from monitor.channels import build_senders
    from monitor.config import load_config
    from monitor.fetch import Fetcher
    from monitor.pipeline import Pipeline
    from monitor.rules.files import load_rulebook

    config = load_config(write_config([{"url": site.url("/feeds/northwire.xml")}]))

    def fresh_pipeline() -> Pipeline:
        fetcher = Fetcher(config.fetch)
        book = load_rulebook(config.rules_dir)
        return Pipeline(config, lambda: book, fetcher, build_senders(config, fetcher))

    with Store.open(config.db_path) as db:
        first = fresh_pipeline()
        assert first.run_cycle(db, force=True).new_articles > 0
        assert first.decider is not None
        again = fresh_pipeline()
        report = again.run_cycle(db, force=True)
        assert report.new_articles == 0 and report.feeds_polled == 1
        assert again.decider is None


def test_a_cycle_in_batches_of_feeds_stores_what_one_batch_stores(site, write_config, tmp_path):
    """The due feeds go through the stages a batch at a time (memory bounded by the batch): with a batch
    of one feed the cycle stores the same articles, hits and stories as with every feed at once, and an
    item met again in a later batch is stored once."""
    from monitor.channels import build_senders
    from monitor.config import load_config
    from monitor.fetch import Fetcher
    from monitor.pipeline import Pipeline
    from monitor.rules.files import load_rulebook

    paths = ["/feeds/northwire.xml", "/feeds/baltic-ledger.rdf", "/feeds/minsk-monitor.atom",
             "/feeds/northwire.xml?again=1", "/feeds/broken.xml"]
    outcomes = []
    for batch in (1000, 1):
        state = tmp_path / f"batch-{batch}"
        config = load_config(write_config([{"url": site.url(p)} for p in paths], state_dir=str(state)))
        fetcher = Fetcher(config.fetch)
        book = load_rulebook(config.rules_dir)
        pipeline = Pipeline(config, lambda book=book: book, fetcher, build_senders(config, fetcher),
                            batch_size=batch)
        with Store.open(config.db_path) as db:
            report = pipeline.run_cycle(db, force=True)
            rows = list(db.db.query("SELECT a.url_key, a.title, a.story IS NOT NULL AS storied, "
                                    "group_concat(h.rule) AS rules FROM articles a LEFT JOIN hits h "
                                    "ON h.article_id = a.id GROUP BY a.id ORDER BY a.url_key"))
        outcomes.append((report.feeds_polled, report.items_seen, report.new_articles, len(report.feed_errors),
                         report.hits, [(r["url_key"].split("/", 3)[-1], r["title"], r["rules"]) for r in rows]))
    assert outcomes[0] == outcomes[1]
    polled, seen, new, errors, hits, rows = outcomes[0]
    assert polled == 5 and errors == 1 and new == len(rows) > 3 and seen > new and hits > 0


def test_copy_and_story_indexes_loaded_from_the_store_decide_as_the_ones_built_while_storing(tmp_path):
    """The running process builds its copy and story indexes as it stores articles; a new process loads
    them from the store (fingerprints through their narrow covering index, stories of the last week). On
    the labelled story fixture, both give the same decision for every later article: copy of which
    stored one, which story it joins and why, and its hits."""
    from monitor.models import Article, FeedItem
    from monitor.pipeline import CycleReport
    from monitor.rules.matching import match_article
    from tests.helpers import load_articles, pipeline_for

    config_path = tmp_path / "monitor.yaml"
    config_path.write_text(f"state_dir: state\nfeeds: []\nrules_dir: {ROOT / 'rules'}\n", encoding="utf-8")
    articles = load_articles()
    first, later = articles[::2], articles[1::2]  # every other one stored; the rest come later
    now = articles[-1]["published"] + timedelta(hours=1)

    def as_article(entry: dict, n: int) -> Article:
        item = FeedItem(f"https://{entry['outlet']}.example/feed", entry["outlet"], f"g{n}", entry["url"],
                        entry["title"], "", entry["published"])
        return Article(item, entry["title"], entry["text"], "page", language=entry["language"])

    running, config = pipeline_for(config_path, clock=lambda: now)
    book = running.rules()
    rules = {r.name: r for r in book.rules}
    with Store.open(config.db_path) as db:
        decider = running._decider(db)
        for n, entry in enumerate(first):  # stored as the pipeline stores a new article
            article = as_article(entry, n)
            hits = match_article(book, article.title, article.text)
            running._store_new(db, decider, article, decider.decide(article, hits, rules, now), now, CycleReport())
        plan = db.db.execute("EXPLAIN QUERY PLAN SELECT id, fingerprint FROM articles "
                             "WHERE fingerprint IS NOT NULL").fetchall()
        assert "COVERING INDEX articles_fingerprints" in str(plan)
        loaded, _ = pipeline_for(config_path, clock=lambda: now)
        from_store = loaded._decider(db)
    assert len(from_store.simhashes) == len(decider.simhashes) > 10
    joined = copies = 0
    for n, entry in enumerate(later + first):  # later reports, and the stored ones seen again
        article = as_article(entry, 1000 + n)
        hits = match_article(book, article.title, article.text)
        a, b = decider.decide(article, hits, rules, now), from_store.decide(article, hits, rules, now)
        assert (a.duplicate_of, a.distance, a.story, a.story_reason, a.hits) == \
            (b.duplicate_of, b.distance, b.story, b.story_reason, b.hits), entry["id"]
        joined += a.story is not None
        copies += a.duplicate_of is not None
    assert joined > 0 and copies >= len(first)  # both indexes were asked


def test_the_copy_index_kept_in_the_store_answers_as_a_rebuild_after_updates_deletions_and_reused_ids(tmp_path):
    """The copy index a process loads (the kept snapshot, the triggers' notes, the articles stored after it)
    answers every copy query as an index rebuilt from the articles does: after articles are stored, their
    fingerprints changed, deleted, an id reused by SQLite, and once the snapshot is taken again; and the
    snapshot is read, not rebuilt, when little came after it."""
    import random

    from monitor.decide.copies import SimHashIndex
    from monitor.models import Article, FeedItem

    rng = random.Random(13)
    stored: list[int] = []  # fingerprints, near copies of them are probed

    def add(store: Store, n: int) -> int:
        fp = rng.getrandbits(64) if not stored or rng.random() < 0.7 else \
            rng.choice(stored) ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
        stored.append(fp)
        item = FeedItem("https://f.example/feed", "F", f"g{n}", f"https://f.example/{n}", f"T {n}", "", NOW)
        return store.add_article(Article(item, f"T {n}", "text", "page"), f"g{n}", f"u{n}", (), NOW, fingerprint=fp)

    def same_answers(store: Store) -> list[str]:
        """Compare the loaded and the rebuilt index; return the statements loading ran."""
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        loaded = store.copy_index()
        store.db.conn.set_trace_callback(None)
        rebuilt = SimHashIndex.from_rows(store.fingerprints())
        assert len(loaded) == len(rebuilt)
        probes = [fp ^ (1 << rng.randrange(64)) for fp in stored] + [rng.getrandbits(64) for _ in range(50)]
        assert [loaded.query(fp) for fp in probes] == [rebuilt.query(fp) for fp in probes]
        assert sum(bool(loaded.query(fp)) for fp in probes) > len(stored) // 2  # the probes do find copies
        return statements

    with Store.open(tmp_path / "monitor.db") as store:
        ids = [add(store, n) for n in range(600)]
        scan = "SELECT id, fingerprint FROM articles WHERE fingerprint IS NOT NULL"
        assert scan in same_answers(store)  # no snapshot yet: rebuilt by a scan, and kept
        kept = dict(store.db.conn.execute("SELECT part, length(data) FROM copy_index"))
        assert kept["ids"] == 8 * 600
        more = [add(store, n) for n in range(600, 700)]
        for article_id in ids[:40:2]:  # a publisher changed these articles: a new fingerprint (or none)
            store.db.execute("UPDATE articles SET fingerprint = ? WHERE id = ?",
                             [rng.getrandbits(63) if article_id % 4 else None, article_id])
        store.db.execute(f"DELETE FROM articles WHERE id IN ({','.join(map(str, ids[100:130]))})")  # retention
        store.db.execute(f"DELETE FROM articles WHERE id >= {more[-5]}")  # the newest go: their ids come back
        reused = [add(store, n) for n in range(700, 710)]
        assert set(reused) & set(more[-5:])
        assert scan not in same_answers(store)  # the snapshot, the notes and the tail: no scan
        assert store.db.execute("SELECT count(*) FROM copy_index_changes").fetchone()[0] > 0  # not taken again
        store.COPY_TAIL_MIN = 1  # now what came after the snapshot is enough to take it again
        same_answers(store)
        assert store.db.execute("SELECT count(*) FROM copy_index_changes").fetchone()[0] == 0
    with Store.open(tmp_path / "monitor.db") as reopened:  # another process, from the new snapshot
        [add(reopened, n) for n in range(710, 720)]
        same_answers(reopened)


def test_identical_bodies_are_stored_as_decided_and_in_one_statement(tmp_path):
    """A server that ignores validators sends the same bytes: polling.to_store leaves out the validators and
    hash the store already holds, so the rows come out as recording the decisions themselves, and a batch of
    such polls is one UPDATE."""
    from monitor.polling import Seen, decide, to_store

    later = NOW + timedelta(minutes=20)
    with Store.open(tmp_path / "as-decided.db") as plain, Store.open(tmp_path / "to-store.db") as lean:
        for store in (plain, lean):
            store.sync_feeds(feeds(6))
            store.record_polls([(f.url, PollDecision(ok=True, next_check=NOW, etag=f'"{i}"', last_modified="lm",
                                                     body_hash=f"h{i}", full_fetch=True))
                                for i, f in enumerate(feeds(6))], NOW - timedelta(hours=2))
        states = {s.url: s for s in plain.due_feeds(later, force=True)}
        seen = {  # the same bytes (h-values kept), a changed ETag, a new Last-Modified, a different body
            0: Seen(200, body=b"x", etag='"0"', last_modified="lm"),
            1: Seen(200, body=b"x", etag='"changed"', last_modified="lm"),
            2: Seen(200, body=b"x", etag='"2"', last_modified="newer"),
            3: Seen(200, body=b"other", etag='"3"', last_modified="lm"),
            4: Seen(200, body=b"x", etag=None, last_modified=None),
            5: Seen(304),
        }
        from monitor.polling import body_hash
        for store in (plain, lean):  # the stored hashes as the bodies the feeds served before
            for i in (0, 1, 2, 4):
                store.db.execute("UPDATE feeds SET body_hash = ? WHERE url = ?", [body_hash(b"x"), feeds(6)[i].url])
        states = {s.url: s for s in plain.due_feeds(later, force=True)}
        decided = [(f.url, decide(states[f.url], 900, seen[i], later)) for i, f in enumerate(feeds(6))]
        statements: dict[str, list[str]] = {"plain": [], "lean": []}
        plain.db.conn.set_trace_callback(statements["plain"].append)
        plain.record_polls(decided, later)
        lean.db.conn.set_trace_callback(statements["lean"].append)
        lean.record_polls([(url, to_store(d, states[url])) for url, d in decided], later)
        assert list(plain.db.query("SELECT * FROM feeds ORDER BY url")) == \
            list(lean.db.query("SELECT * FROM feeds ORDER BY url"))
        # 0, 4 and 5 leave the same marks (one UPDATE); 1, 2 and 3 bring a new ETag, Last-Modified or hash
        assert {name: sum(s.startswith("UPDATE feeds") for s in done) for name, done in statements.items()} == \
            {"plain": 6, "lean": 4}
        assert len({url for url, d in decided if to_store(d, states[url]) == PollDecision(
            ok=True, next_check=later + timedelta(seconds=900))}) == 3


def _due_feeds_as_before(store: Store, now: datetime, urls=None, force: bool = False, intervals=None) -> list:
    """The specification: Store.due_feeds as it was before due feeds became row ids read a batch at a time
    (every due feed's whole state read and held at once)."""
    from monitor.polling import FeedState
    from monitor.store import iso

    cutoff = iso(now)
    since = {seconds: iso(now - timedelta(seconds=seconds)) for seconds in set((intervals or {}).values())}
    rows = store.db.conn.execute(
        "SELECT url, name, fetch_url, etag, last_modified, body_hash, last_full_fetch, errors, next_check, "
        "last_checked, full_items FROM feeds WHERE disabled = 0 ORDER BY rowid")
    wanted = set(urls) if urls is not None else None
    since_of = {url: since[seconds] for url, seconds in (intervals or {}).items()}
    out = []
    for url, name, fetch_url, etag, modified, digest, full, errors, next_check, checked, items in rows:
        if wanted is not None and url not in wanted:
            continue
        if not (force or next_check is None or next_check <= cutoff
                or (not errors and checked and url in since_of and checked <= since_of[url])):
            continue
        out.append(FeedState(url=url, name=name, fetch_url=fetch_url or url, etag=etag, last_modified=modified,
                             body_hash=digest, last_full_fetch=full, errors=errors or 0, next_check=next_check,
                             full_items=items))
    return out


def test_due_feeds_as_row_ids_read_a_batch_at_a_time_are_the_states_due_feeds_gave(store):
    """A cycle holds its due feeds as row ids and reads each batch's states when it comes to them: batch
    after batch, the states and their order are those the replaced due_feeds read all at once."""
    listed = feeds(40)
    store.sync_feeds(listed[::2] + listed[1::2])  # table order is not URL order
    first = [(f.url, d) for f, d in zip(listed, [PollDecision(
        ok=True, next_check=NOW + timedelta(minutes=5 * (i % 7)), etag=f'"{i}"' if i % 3 else None,
        last_modified="Tue, 01 Dec 2026 11:00:00 GMT" if i % 4 == 0 else None, body_hash=f"h{i}",
        full_fetch=i % 5 == 0) for i in range(40)], strict=True)]
    store.record_polls(first, NOW - timedelta(hours=1))
    store.record_polls([(f.url, PollDecision(ok=False, next_check=NOW + timedelta(hours=2), error="HTTP 503"))
                        for f in listed[30:36]], NOW - timedelta(minutes=30))
    store.record_polls([(listed[36].url, PollDecision(ok=False, next_check=NOW, error="HTTP 410",
                                                      disable="HTTP 410 Gone"))], NOW)
    store.record_polls([(listed[37].url, PollDecision(ok=True, next_check=NOW, moved_to="https://moved.example/f"))],
                       NOW - timedelta(minutes=40))
    store.db.execute("UPDATE feeds SET full_items = 12 WHERE url = ?", [listed[5].url])
    wanted = {f.url for f in listed[3:33]} | {"https://not-stored.example/feed.xml"}
    intervals = {f.url: (300 if i % 2 else 3600) for i, f in enumerate(listed)}
    cases = [dict(), dict(force=True), dict(urls=wanted), dict(urls=wanted, intervals=intervals),
             dict(intervals=intervals), dict(urls=set())]
    for when in (NOW - timedelta(hours=3), NOW, NOW + timedelta(minutes=16), NOW + timedelta(hours=3)):
        for case in cases:
            spec = _due_feeds_as_before(store, when, **case)
            rowids = store.due_rowids(when, **case)
            for size in (1, 7, 100):
                batches = [store.feed_states(rowids[start:start + size]) for start in range(0, len(rowids), size)]
                assert [state for batch in batches for state in batch] == spec, (when, case, size)
            assert store.due_feeds(when, **case) == spec
    assert len(_due_feeds_as_before(store, NOW, force=True)) == 39  # the disabled one is never due
    assert store.feed_rowids([listed[2].url, "https://not-stored.example/feed.xml"]) == \
        {listed[2].url: store.due_rowids(NOW, urls=[listed[2].url], force=True)[0]}
