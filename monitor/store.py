"""Every SQL statement of news-monitor, through sqlite-utils: feeds' poll state, articles (unique by
GUID key and normalised URL), hits (unique per article and rule), messages and their deliveries.

The database runs in WAL mode; its schema changes only through `migrations.py`.
"""

from __future__ import annotations

import heapq
import json
import os
import sqlite3
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from sqlite_utils import Database

from monitor.migrations import INDEX_PENDING, MIGRATIONS, SEARCH_FOLD, SEARCH_PENDING
from monitor.models import (
    Article,
    Delivery,
    Feed,
    FeedItem,
    FeedProblems,
    Hit,
    Message,
    MessageItem,
    StoredArticle,
    StoryId,
    StoryMember,
    signed64,
    unsigned64,
)
from monitor.polling import FeedState, PollDecision
from monitor.search import searchable

if TYPE_CHECKING:  # (the deciding modules are imported only by what writes articles or loads the indexes: the
    # read commands don't, nor the rule language and the sentence patterns these bring)
    from monitor.decide.copies import SimHashIndex
    from monitor.decide.stories import StoryIndex


def _signed(fp: int | None) -> int | None:
    """SQLite integers are signed 64-bit: store a 64-bit fingerprint as its two's complement."""
    return None if fp is None else signed64(fp)


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _summary(article: Article) -> str | None:
    """The feed's summary, unless it is the article's text (full-content feeds, pages that fell back):
    then the text column holds it and storing it twice would double the database."""
    item = article.item
    return None if article.text_source == "summary" and article.text == item.summary else item.summary


def _item_json(item: FeedItem) -> str:
    data = asdict(item)
    data["published"] = item.published.isoformat() if item.published else None
    return json.dumps(data, ensure_ascii=False)


def _item_from_json(text: str) -> FeedItem:
    data = json.loads(text)
    published = data.pop("published")
    return FeedItem(**data, published=datetime.fromisoformat(published) if published else None)


def _chunks(values: Sequence, size: int = 500) -> Iterator[list]:
    """`values` in lists of at most `size`, for `IN (?, ...)` under SQLite's limit on bound parameters."""
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def iso(moment: datetime) -> str:
    """Timestamps are stored as UTC ISO 8601 strings, which sort as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(stored: str) -> datetime:
    return datetime.fromisoformat(stored.replace("Z", "+00:00"))


SOURCES_LISTED = 50  # reports of a story loaded for a message; messages show a few and count the rest
_HIT_COLUMNS = ", ".join(f"a.{c}" for c in ("id", "guid", "url", "canonical_url", "feed_url", "feed_name", "title",
                                            "text_source", "language", "published", "first_seen", "story"))
# a search matching at most this many articles sorts their rows; more walk the first_seen index (Store.search):
# ~5 µs a row against ~0.07 µs an index entry, and the walk stops after about limit x stored / matches entries
SEARCH_FEW = 500
WAL_SIZE_LIMIT = 8 << 20  # bytes of write-ahead log kept after a checkpoint (Store.open)
_ITEM_COLUMNS = ", ".join(f"a.{c}" for c in ("id", "title", "canonical_url", "url", "feed_name", "published",
                                             "first_seen", "story", "text_source", "outlet_url"))
_ITEM_ORDER = itemgetter(12, 6, 1)  # a message's rows: by the article's first_seen and id, then the hit's rule
_ITEM_ARTICLE = itemgetter(6)


class _KeptPostings:
    """Reads entries of the kept story index's postings (migration 020) for a StoryIndex loaded without them:
    {key id: (first, end entry)} -> bytes per key, as the snapshot taken with the mark `taken` holds them
    (ValueError if it was taken again since). From a connection of its own to a database file: the index
    outlives the Store it was loaded through (the service opens one per tick)."""

    CHUNK = 256  # posting entries (12 bytes each) per row of story_postings: a row fits a page

    def __init__(self, store: Store, taken: bytes):
        path = store.db.execute("PRAGMA database_list").fetchone()[2]
        self._conn, self._path, self._taken = (None, path, taken) if path else (store.db.conn, "", taken)

    def __call__(self, wants: Mapping[int, tuple[int, int]]) -> dict[int, bytes]:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        chunk, entry = self.CHUNK, 12
        spans = {key_id: ((key_id << 20) + first // chunk, (key_id << 20) + (end - 1) // chunk)
                 for key_id, (first, end) in wants.items()}
        rowids = [rowid for low, high in spans.values() for rowid in range(low, high + 1)]
        found: dict[int, bytes] = {}
        for part in _chunks(rowids):
            found.update(self._conn.execute(
                f"SELECT id, entries FROM story_postings WHERE id IN ({', '.join('?' * len(part))}) "
                "AND EXISTS (SELECT 1 FROM story_index WHERE part = 'taken' AND data = ?)", [*part, self._taken]))
        if len(found) != len(rowids):
            raise ValueError("the kept story index was taken again while a process read it")
        out = {}
        for key_id, (first, end) in wants.items():
            low, high = spans[key_id]
            skip = (first - (first // chunk) * chunk) * entry
            out[key_id] = b"".join(found[rowid] for rowid in range(low, high + 1))[skip:skip + (end - first) * entry]
        return out


class Store:
    """One connection to the monitor database. Open one per thread; close when done."""

    def __init__(self, db: Database):
        self.db = db
        db.conn.isolation_level = None  # we open transactions ourselves, with BEGIN IMMEDIATE
        # the search index's triggers fold an article's text with the rules' folding (migrations._search_index)
        db.conn.create_function(SEARCH_FOLD, -1, searchable, deterministic=True)
        self._search_pending = False  # articles written in this transaction wait for the search index
        self._batched_search = False  # migration 018 found applied (before it, the triggers index each article)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front so a busy database waits, not fails.
        Inside another, a savepoint: always of one name (SQLite nests same-named savepoints), so the
        statement stays in the connection's cache; a fresh random name per call evicted other statements."""
        conn = self.db.conn
        if conn.in_transaction:
            conn.execute("SAVEPOINT nested")
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # an error may already have ended the whole transaction
                    conn.execute("ROLLBACK TO SAVEPOINT nested")
                    conn.execute("RELEASE SAVEPOINT nested")
                raise
            conn.execute("RELEASE SAVEPOINT nested")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            if self._search_pending:
                self._index_pending()
        except BaseException:
            conn.rollback()
            self._search_pending = False
            raise
        conn.execute("COMMIT")

    def _index_pending(self) -> None:
        """Index the articles written since the last time, in one statement (migrations._018_search_batched)."""
        self._search_pending = False
        if not self._batched_search:  # a store not migrated yet (tests write through Store to older schemas)
            self._batched_search = bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                                                        [SEARCH_PENDING]).fetchone())
            if not self._batched_search:
                return
        self.db.execute(INDEX_PENDING)
        self.db.execute(f"DELETE FROM {SEARCH_PENDING}")

    @classmethod
    def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db = Database(conn)
        if not db.execute("PRAGMA page_count").fetchone()[0]:
            # a new database frees deleted pages in steps (Store.reclaim). Only a new one: on an existing database
            # this pragma waits for the write lock, so a reader (`status --check`, the container's healthcheck)
            # opened while the service sat in a write transaction would fail with "database is locked"
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no corruption on a crash, one fsync per checkpoint
        # the log is reused from its start after each checkpoint, and cut back to this size then: one large cycle
        # does not leave a large file behind while the service keeps the database open
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        store = cls(db)
        store.migrate()
        return store

    @classmethod
    def memory(cls) -> Store:
        store = cls(Database(memory=True))
        store.migrate()
        return store

    def close(self) -> None:
        self.db.conn.close()

    def path(self) -> Path | None:
        """The database file, or None for one in memory."""
        name = next((row[2] for row in self.db.execute("PRAGMA database_list") if row[1] == "main"), "")
        return Path(name) if name else None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; return their names."""
        if "_migrations" not in self.db.table_names():
            self.db["_migrations"].create({"name": str, "applied": str}, pk="name", if_not_exists=True)
        done = {row["name"] for row in self.db["_migrations"].rows}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():
                if name not in {r["name"] for r in self.db["_migrations"].rows}:  # another process won
                    step(self.db)
                    self.db["_migrations"].insert({"name": name, "applied": iso(datetime.now(UTC))})
                    applied.append(name)
        return applied

    # -- feeds --------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Iterable[Feed]) -> None:
        """Make the feeds table hold the configured feeds; new ones are due at once. Only feeds that are
        new or renamed are written: an unchanged config of 10,000 feeds costs one read, not 10,000 upserts."""
        self.sync_feed_names((feed.url, feed.name) for feed in feeds)

    def sync_feed_names(self, feeds: Iterable[tuple[str, str]]) -> None:
        """sync_feeds given each feed's (url, name) (a cycle does not make 10,000 Feeds to say them)."""
        known = dict(self.db.execute("SELECT url, name FROM feeds").fetchall())
        changed = [(url, name) for url, name in feeds if known.get(url, ...) != name]
        if not changed:
            return
        with self.transaction():
            self.db.conn.executemany("INSERT INTO feeds (url, name) VALUES (?, ?) "
                                     "ON CONFLICT(url) DO UPDATE SET name = excluded.name", changed)

    def due_feeds(self, now: datetime, urls: Iterable[str] | None = None, force: bool = False,
                  intervals: Mapping[str, int] | None = None) -> list[FeedState]:
        """Enabled feeds whose next check has come (all enabled ones when `force`), limited to `urls`.
        With `intervals` (url -> seconds, as configured now), a healthy feed is also due once its current
        interval has passed since its last check: a shortened interval counts from the next tick, not
        after the check planned under the old one."""
        return self.feed_states(self.due_rowids(now, urls, force, intervals))

    def due_rowids(self, now: datetime, urls: Iterable[str] | None = None, force: bool = False,
                   intervals: Mapping[str, int] | None = None) -> array:
        """The feeds `due_feeds` gives, as their row ids in table order: 8 bytes a feed, so a cycle of
        30,000 feeds holds its due list in 240 kB and reads each batch's states (`feed_states`) when it
        comes to them."""
        cutoff = iso(now)
        since = {seconds: iso(now - timedelta(seconds=seconds)) for seconds in set((intervals or {}).values())}
        # in table order (the order feeds were added): a batch of due feeds then updates neighbouring rows, so
        # each batch's commit writes a slice of the table's pages, not (by URL order) nearly all of them
        rows = self.db.conn.execute(
            "SELECT rowid, url, errors, next_check, last_checked FROM feeds WHERE disabled = 0 ORDER BY rowid")
        wanted = set(urls) if urls is not None else None
        since_of = {url: since[seconds] for url, seconds in (intervals or {}).items()}  # checked before: due
        out = array("q")
        for rowid, url, errors, next_check, checked in rows:
            if wanted is not None and url not in wanted:
                continue
            if not (force or next_check is None or next_check <= cutoff
                    or (not errors and checked and url in since_of and checked <= since_of[url])):
                continue
            out.append(rowid)
        return out

    def feed_rowids(self, urls: Iterable[str]) -> dict[str, int]:
        """url -> row id of these feeds (those in the table)."""
        return dict(self.db.conn.execute("SELECT url, rowid FROM feeds WHERE url IN (SELECT value FROM json_each(?))",
                                         [json.dumps(list(urls), ensure_ascii=False)]))

    def feed_states(self, rowids: Sequence[int]) -> list[FeedState]:
        """The stored state of these feeds (row ids from `due_rowids`), in table order."""
        rows = self.db.conn.execute(
            "SELECT url, name, fetch_url, etag, last_modified, body_hash, last_full_fetch, errors, next_check, "
            "full_items FROM feeds WHERE rowid IN (SELECT value FROM json_each(?)) ORDER BY rowid",
            [json.dumps(list(rowids))])
        return [FeedState(url=url, name=name, fetch_url=fetch_url or url, etag=etag, last_modified=modified,
                          body_hash=digest, last_full_fetch=full, errors=errors or 0, next_check=next_check,
                          full_items=items)
                for url, name, fetch_url, etag, modified, digest, full, errors, next_check, items in rows]

    def record_poll(self, url: str, now: datetime, decision: PollDecision) -> None:
        """Store one poll's outcome: validators and body hash on success; the error, its count and
        when failing began otherwise; a permanent move; a disabling."""
        self.record_polls([(url, decision)], now)

    def record_polls(self, polls: Sequence[tuple[str, PollDecision]], now: datetime) -> None:
        """record_poll for a batch of feeds, in one transaction. Successful polls that leave the same marks
        (every 304 of a cycle with one interval: the same next check, no new validators) are one group, written
        by one statement over a JSON list of their URLs: an unchanged cycle costs a statement per batch,
        not one per feed."""
        at = iso(now)
        stamps: dict[datetime, str] = {}  # the cycle's feeds share a few next-check moments: format each once

        def stamp(moment: datetime) -> str:
            found = stamps.get(moment)
            if found is None:
                found = stamps[moment] = iso(moment)
            return found

        groups: dict[tuple, list[str]] = {}
        failed, moved = [], []
        for url, d in polls:
            if d.ok:
                groups.setdefault((stamp(d.next_check), d.etag, d.last_modified, d.body_hash, int(d.full_fetch)),
                                  []).append(url)
            else:
                failed.append((at, stamp(d.next_check), (d.error or "")[:2000], d.disable, url))
            if d.moved_to:
                moved.append((d.moved_to, url))
        with self.transaction():
            if groups:
                self.db.conn.executemany(
                    "UPDATE feeds SET last_checked = :now, last_ok = :now, next_check = :next, errors = 0, "
                    "last_error = NULL, failing_since = NULL, etag = coalesce(:etag, etag), "
                    "last_modified = coalesce(:lm, last_modified), body_hash = coalesce(:hash, body_hash), "
                    "last_full_fetch = CASE WHEN :full THEN :now ELSE last_full_fetch END "
                    "WHERE url IN (SELECT value FROM json_each(:urls))",
                    [{"now": at, "next": next_check, "etag": etag, "lm": lm, "hash": digest, "full": full,
                      "urls": json.dumps(urls, ensure_ascii=False)}
                     for (next_check, etag, lm, digest, full), urls in groups.items()])
            if failed:
                self.db.conn.executemany(
                    "UPDATE feeds SET last_checked = ?1, next_check = ?2, errors = errors + 1, "
                    "last_error = ?3, failing_since = coalesce(failing_since, ?1), "
                    "disabled = CASE WHEN ?4 IS NULL THEN disabled ELSE 1 END, "
                    "disabled_reason = coalesce(?4, disabled_reason) WHERE url = ?5", failed)
            if moved:
                self.db.conn.executemany("UPDATE feeds SET fetch_url = ? WHERE url = ?", moved)

    def record_validators(self, parsed: Sequence[tuple[str, PollDecision]], now: datetime) -> None:
        """Keep the validators and body hash of feeds whose items are now stored."""
        with self.transaction():
            for url, decision in parsed:
                self.db.execute(
                    "UPDATE feeds SET etag = coalesce(:etag, etag), last_modified = coalesce(:lm, last_modified), "
                    "body_hash = coalesce(:hash, body_hash), "
                    "last_full_fetch = CASE WHEN :full THEN :now ELSE last_full_fetch END WHERE url = :url",
                    {"etag": decision.etag, "lm": decision.last_modified, "hash": decision.body_hash,
                     "full": int(decision.full_fetch), "now": iso(now), "url": url})

    def record_items(self, counts: Sequence[tuple[str, int]]) -> None:
        """How many items each feed's last complete parse had: (url, count) pairs."""
        if counts:
            with self.transaction():
                self.db.conn.executemany("UPDATE feeds SET full_items = ? WHERE url = ?",
                                         [(count, url) for url, count in counts])

    def record_problems(self, problems: Mapping[str, FeedProblems], now: datetime) -> None:
        """Replace each feed's problems with this cycle's (an empty FeedProblems clears them)."""
        with self.transaction():
            for url, found in problems.items():
                self.db.execute("UPDATE feeds SET problems = ?, problems_at = ? WHERE url = ?",
                                [json.dumps(asdict(found), ensure_ascii=False) if found.any else None,
                                 iso(now) if found.any else None, url])

    # -- the backlog: items over a feed's per-cycle limits ------------------------------------------

    def held_items(self, feed_urls: Iterable[str]) -> list[tuple[str, FeedItem]]:
        """(key, item) of the items waiting for a cycle, oldest first, of these feeds."""
        wanted = set(feed_urls)
        return [(row[0], _item_from_json(row[2])) for row in self.db.execute(
            "SELECT key, feed_url, item FROM backlog ORDER BY held_at, rowid") if row[1] in wanted]

    def set_backlog(self, drop: Iterable[str], add: Sequence[tuple[str, FeedItem]], now: datetime) -> None:
        """The cycle is over: the backlog rows it took (`drop`, by key) are gone, and `add` (key, item) wait
        for the next one, after those already waiting."""
        with self.transaction():
            self.db.conn.executemany("DELETE FROM backlog WHERE key = ?", [(k,) for k in drop])
            self.db.conn.executemany(
                "INSERT INTO backlog (key, feed_url, item, held_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [(key, item.feed_url, _item_json(item), iso(now)) for key, item in add])

    def feed_health(self) -> list[dict]:
        """Every feed's poll health; `problems` is a FeedProblems (empty when its last cycle had none)."""
        rows = self.db.query("SELECT url, name, fetch_url, last_checked, last_ok, last_error, errors, next_check, "
                             "failing_since, disabled, disabled_reason, problems, problems_at FROM feeds ORDER BY name")
        return [{**r, "problems": FeedProblems(**json.loads(r["problems"])) if r["problems"] else FeedProblems()}
                for r in rows]

    # -- articles and hits ----------------------------------------------------------------------

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these GUID keys or URL keys already name a stored article."""
        keys = list({k for k in keys if k})
        found: set[str] = set()
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            marks = ",".join("?" * len(chunk))
            for table in ("articles", "sources"):
                for row in self.db.query(f"SELECT guid_key, url_key FROM {table} WHERE guid_key IN ({marks}) "
                                         f"OR url_key IN ({marks})", chunk + chunk):
                    found.update(k for k in (row["guid_key"], row["url_key"]) if k)
        return found

    def stored_items(self, keys: Iterable[str]) -> dict[str, StoredArticle]:
        """GUID or URL key -> the stored article it names (not copies)."""
        keys = list({k for k in keys if k})
        found: dict[str, StoredArticle] = {}
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT id, guid_key, url_key, item_hash, fingerprint, first_seen, "
                                     f"coalesce(page_checked, first_seen) AS page_checked FROM articles "
                                     f"WHERE guid_key IN ({marks}) OR url_key IN ({marks})", chunk + chunk):
                stored = StoredArticle(row["id"], row["item_hash"],
                                       None if row["fingerprint"] is None else unsigned64(row["fingerprint"]),
                                       _moment(row["first_seen"]), _moment(row["page_checked"]))
                for key in (row["guid_key"], row["url_key"]):
                    if key:
                        found[key] = stored
        return found

    def add_article(self, article: Article, guid_key: str | None, url_key: str | None,
                    hits: Sequence[Hit], now: datetime, *, story: StoryId | None = None,
                    fingerprint: int | None = None, features: dict | None = None, facts: dict | None = None,
                    item_hash: str | None = None, notes: Sequence[str] = ()) -> int | None:
        """Insert the article, its hits and its story's bookkeeping in one transaction; None when it
        was already stored. A hit that asks for an alert gets it only if its story has not alerted for
        that rule yet: claimed here, atomically, so a crash can neither lose nor repeat an alert."""
        item = article.item
        with self.transaction():
            row = self.db.execute(
                "INSERT INTO articles (guid_key, url_key, guid, url, canonical_url, feed_url, feed_name, "
                "title, summary, text, text_source, text_note, language, published, first_seen, fingerprint, "
                "story_features, release_facts, item_hash, outlet_url) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                [guid_key, url_key, item.guid, item.url, article.canonical_url, item.feed_url,
                 item.outlet, article.title, _summary(article), article.text, article.text_source,
                 article.note, article.language, iso(item.published) if item.published else None,
                 iso(now), _signed(fingerprint), _json(features), _json(facts), item_hash,
                 item.source_url]).fetchone()
            if row is None:
                return None
            article_id = row[0]  # noted by the insert's trigger: indexed for search when the transaction commits
            self._search_pending = True
            story_id = story if story is not None else article_id
            story = str(story_id)  # the story columns are text
            self.db.execute("UPDATE articles SET story = ? WHERE id = ?", [story, article_id])
            # (the story's alerted rules come back from the upsert itself, and are written only when they change)
            stored = self.db.execute("INSERT INTO stories (id, first_seen, last_seen, articles) VALUES (?, ?, ?, 1) "
                                     "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, "
                                     "articles = articles + 1 RETURNING alerted_rules", [story, iso(now), iso(now)]
                                     ).fetchone()[0]
            from monitor.decide.alerts import claim

            claimed, follow_ups, alerted = claim(hits, set(json.loads(stored or "[]")), story_id)
            for reason in follow_ups:
                self._suppress(now, "alert", article_id, story, item.url, reason)
            for hit, alert in claimed:
                self._insert_hit(article_id, hit, alert, now)
            if (alerted_rules := json.dumps(sorted(alerted))) != stored:
                self.db.execute("UPDATE stories SET alerted_rules = ? WHERE id = ?", [alerted_rules, story])
            for note in notes:
                self._suppress(now, "alert", article_id, story, item.url, note)
        return article_id

    def add_source(self, article_id: int, article: Article, guid_key: str | None, url_key: str | None,
                   now: datetime, reason: str) -> bool:
        """Record a copy of a stored article as another source of it; False when already known."""
        item = article.item
        with self.transaction():
            row = self.db.execute(
                "INSERT INTO sources (article_id, url, url_key, guid_key, feed_url, feed_name, title, first_seen, "
                "reason, outlet_url) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                [article_id, item.url, url_key, guid_key, item.feed_url, item.outlet, article.title, iso(now),
                 reason, item.source_url]).fetchone()
            if row is None:
                return False
            story = self.db.execute("SELECT story FROM articles WHERE id = ?", [article_id]).fetchone()[0]
            self._suppress(now, "copy", article_id, story, item.url, reason)
        return True

    def update_article(self, article_id: int, article: Article, hits: Sequence[Hit], now: datetime, *,
                       fingerprint: int | None, features: dict | None, facts: dict | None,
                       item_hash: str | None) -> None:
        """Replace an article's text after its publisher changed it; new hits never alert."""
        with self.transaction():
            story = self.db.execute("SELECT story FROM articles WHERE id = ?", [article_id]).fetchone()[0]
            self.db.execute(
                "UPDATE articles SET title = ?, summary = ?, text = ?, text_source = ?, text_note = ?, "
                "fingerprint = ?, story_features = ?, release_facts = coalesce(?, release_facts), item_hash = ?, "
                "updated = ?, page_checked = ?, updates = coalesce(updates, 0) + 1 WHERE id = ?",
                [article.title, _summary(article), article.text, article.text_source, article.note,
                 _signed(fingerprint), _json(features), _json(facts), item_hash, iso(now), iso(now), article_id])
            for hit in hits:
                self._insert_hit(article_id, hit, False, now)
            self._suppress(now, "update", article_id, story, article.item.url,
                           "the publisher changed the article: text replaced, nothing alerted again")

    def search(self, match: str, since: datetime | None = None, feed: str | None = None,
               limit: int = 20) -> list[dict]:
        """Stored articles matching an FTS5 expression (monitor.search.to_match), newest first seen first;
        `feed` is a feed's name or URL. Each: id, url, title, text, feed_name, published, first_seen."""
        where, args = ["id IN (SELECT rowid FROM article_search WHERE article_search MATCH ?)"], [match]
        if since is not None:
            where.append("first_seen >= ?")
            args.append(iso(since))
        if feed is not None:
            where.append("(feed_name = ? OR feed_url = ?)")
            args += [feed, feed]
        # Only the rows shown are read whole: first_seen lies after the text in a row, so sorting full rows
        # would read every match's text. Which way the newest matches are picked depends on how many there are
        # (counted by FTS5 up to SEARCH_FEW): many are met soon walking the first_seen index from the newest;
        # a few are sorted from their own rows (~5 µs each), as that walk would cross the whole index to find
        # them (1,000,000 stored: ~70 ms CPU, more from disk, for a word found in no article).
        try:
            few = len(self.db.execute("SELECT rowid FROM article_search WHERE article_search MATCH ? LIMIT ?",
                                      [match, SEARCH_FEW + 1]).fetchall()) <= SEARCH_FEW
            # NOT INDEXED: the matches' rows are reached by rowid, not by walking the first_seen index
            newest = "NOT INDEXED" if few else "INDEXED BY idx_articles_first_seen"
            return list(self.db.query(
                "SELECT id, coalesce(canonical_url, url) AS url, title, coalesce(text, summary) AS text, feed_name, "
                f"published, first_seen FROM articles WHERE id IN (SELECT id FROM articles {newest} "
                f"WHERE {' AND '.join(where)} ORDER BY first_seen DESC, id DESC LIMIT ?) "
                "ORDER BY first_seen DESC, id DESC", [*args, limit]))
        except sqlite3.OperationalError as exc:  # an expression FTS5 refuses: a bug in to_match, said plainly
            raise ValueError(f"search expression {match!r} refused by SQLite: {exc}") from None

    def mark_checked(self, article_id: int, item_hash: str, now: datetime) -> None:
        """The article was looked at again and its text had not changed."""
        with self.transaction():
            self.db.execute("UPDATE articles SET item_hash = ?, page_checked = ? WHERE id = ?",
                            [item_hash, iso(now), article_id])

    def _insert_hit(self, article_id: int, hit: Hit, alert: bool, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO hits (article_id, rule, evidence, snippet, why, alert, first_seen, words) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            [article_id, hit.rule, json.dumps([e.__dict__ for e in hit.evidence], ensure_ascii=False),
             hit.snippet, hit.why, int(alert), iso(now), json.dumps(hit.words, ensure_ascii=False)])

    def _suppress(self, now: datetime, kind: str, article_id: int, story: str | None, url: str | None,
                  reason: str) -> None:
        self.db.execute("INSERT INTO suppressions (at, kind, article_id, story, url, reason) VALUES (?,?,?,?,?,?)",
                        [iso(now), kind, article_id, story, url, reason])

    def fingerprints(self) -> Iterator[tuple[int, int]]:
        for row in self.db.execute("SELECT id, fingerprint FROM articles WHERE fingerprint IS NOT NULL"):
            yield row[0], unsigned64(row[1])

    # the kept snapshot is taken again once what came after it is this share of it (or COPY_TAIL_MIN rows)
    COPY_TAIL_SHARE, COPY_TAIL_MIN = 8, 4096

    def copy_index(self) -> SimHashIndex:
        """The copy index over every stored fingerprint, as a rebuild from the articles would give it: the
        kept snapshot (migration 015) with the changes its triggers noted and the articles stored after it
        applied. With no snapshot, or once what came after it reaches an eighth of it, the index is taken
        again and kept: loading costs a few blob reads and a short tail, not a scan and a sort of every
        article. Read and re-taken in one transaction, so no write slips between."""
        from monitor.decide.copies import SimHashIndex

        conn = self.db.conn
        with self.transaction():
            parts = dict(conn.execute("SELECT part, data FROM copy_index"))
            try:
                upto = int(parts.pop("upto"))
                index = SimHashIndex.from_snapshot(parts)
            except (KeyError, ValueError):  # none yet (or unreadable): rebuilt from the articles and kept
                index = SimHashIndex.from_rows(self.fingerprints())
                self._keep_copy_index(index)
                return index
            changes = conn.execute("SELECT c.article_id, a.fingerprint FROM copy_index_changes c LEFT JOIN "
                                   "articles a ON a.id = c.article_id WHERE c.article_id <= ?", [upto]).fetchall()
            for article_id, _ in changes:
                index.remove(article_id)
            after = 0
            for article_id, fp in changes:
                if fp is not None:
                    index.add(article_id, unsigned64(fp))
                    after += 1
            for article_id, fp in conn.execute("SELECT id, fingerprint FROM articles WHERE id > ? AND "
                                               "fingerprint IS NOT NULL ORDER BY id", [upto]):
                index.add(article_id, unsigned64(fp))
                after += 1
            if max(after, len(changes)) >= max(self.COPY_TAIL_MIN, len(index) // self.COPY_TAIL_SHARE):
                self._keep_copy_index(index)
        return index

    def _keep_copy_index(self, index: SimHashIndex) -> None:
        """Replace the kept snapshot with `index`, which holds every fingerprint stored up to now."""
        conn = self.db.conn
        parts = index.snapshot()
        upto = conn.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
        conn.execute("DELETE FROM copy_index")
        conn.executemany("INSERT INTO copy_index (part, data) VALUES (?, ?)",
                         [*parts.items(), ("upto", str(upto).encode())])
        conn.execute("DELETE FROM copy_index_changes")

    def story_rows(self, since: datetime, releases_since: datetime | None = None) -> Iterator[StoryMember]:
        """The articles with hits first seen since `since`, and release stories' articles first seen since
        `releases_since` (follow-ups weeks later still find them), oldest first, with their stories and features."""
        releases = iso(releases_since) if releases_since is not None else iso(since)
        yield from self._story_members(
            "FROM articles a JOIN hits h ON h.article_id = a.id WHERE a.story_features IS NOT NULL "
            "AND (a.first_seen >= ? OR (a.first_seen >= ? AND a.story IN "
            "(SELECT story FROM articles WHERE release_facts IS NOT NULL)))", [iso(since), releases])

    def _story_tail(self, upto: int, since: datetime, releases_since: datetime) -> Iterator[StoryMember]:
        """The rows of `story_rows(since, releases_since)` whose article id is above `upto`: read from the hits
        after it (an index range), each article's release story looked up by its story, not every release."""
        yield from self._story_members(
            "FROM hits h CROSS JOIN articles a ON a.id = h.article_id WHERE h.article_id > ? "
            "AND a.story_features IS NOT NULL AND (a.first_seen >= ? OR (a.first_seen >= ? AND EXISTS "
            "(SELECT 1 FROM articles r INDEXED BY articles_release_facts WHERE r.story = a.story "
            "AND r.release_facts IS NOT NULL)))", [upto, iso(since), iso(releases_since)])

    def _story_members(self, source: str, params: list) -> Iterator[StoryMember]:
        for row in self.db.query("SELECT a.story, a.story_features, a.first_seen, group_concat(h.rule, char(31)) "
                                 f"AS rules {source} GROUP BY a.id ORDER BY a.first_seen, a.id", params):
            yield StoryMember(int(row["story"]), json.loads(row["story_features"]), tuple(row["rules"].split("\x1f")),
                              _moment(row["first_seen"]))

    STORY_TAIL = 1000  # articles with hits stored after the kept story index: past this many it is taken again

    def story_index(self, since: datetime, releases_since: datetime) -> StoryIndex:
        """The story index over `story_rows(since, releases_since)`, as `StoryIndex.from_rows` builds it: the
        kept snapshot (migration 016) with the articles stored after it added, when it was built for this
        window, no noted change falls inside it, and the articles after it come after all of its own (else
        rebuilt and kept). Taken again once STORY_TAIL articles came after it. Read and re-taken in one
        transaction, so no write slips between. Its postings (migration 020: the bulk of it) stay in the
        store, read a key at a time as articles carrying the key come (`_KeptPostings`)."""
        from monitor.decide.stories import StoryFeatures, StoryIndex

        def _story_row(m: StoryMember) -> tuple:
            return m.story, StoryFeatures.from_dict(m.features), m.rules, m.first_seen

        window = f"{iso(since)} {iso(releases_since)}"
        conn = self.db.conn
        with self.transaction():
            parts = dict(conn.execute("SELECT part, data FROM story_index"))
            try:
                upto, last, taken = int(parts.pop("upto")), parts.pop("last").decode(), parts.pop("taken")
                if parts.pop("window").decode() != window or conn.execute(
                        "SELECT 1 FROM story_index_changes WHERE first_seen IS NULL OR first_seen >= ? LIMIT 1",
                        [iso(releases_since)]).fetchone() or self._story_grew_back(upto, since, releases_since):
                    raise ValueError("the kept story index is not the window's")
                tail = list(self._story_tail(upto, since, releases_since))
                if tail and iso(tail[0].first_seen) < last:
                    raise ValueError("articles stored after the kept story index are dated before its own")
                index = StoryIndex.from_snapshot(parts, postings=_KeptPostings(self, taken))
            except (KeyError, ValueError):  # none yet, another window, changed or unreadable: rebuilt and kept
                rows = list(self.story_rows(since, releases_since))
                index = StoryIndex.from_rows(_story_row(m) for m in rows)
                self._keep_story_index(index, window, rows[-1].first_seen if rows else None, last=None)
                return index
            for member in tail:
                index.add(*_story_row(member))
            if len(tail) >= self.STORY_TAIL:
                self._keep_story_index(index, window, tail[-1].first_seen, last)
        return index

    def _story_grew_back(self, upto: int, since: datetime, releases_since: datetime) -> bool:
        """Whether an article stored after the kept story index made a story a release story whose older
        articles (first seen between `releases_since` and `since`) the index therefore lacks. Reads the release
        reports after `upto` (an index range) and two index lookups for each: not every release report."""
        return self.db.conn.execute(
            "SELECT 1 FROM (SELECT DISTINCT story FROM articles INDEXED BY articles_release_ids WHERE id > :upto "
            " AND release_facts IS NOT NULL) s "
            "WHERE NOT EXISTS (SELECT 1 FROM articles INDEXED BY articles_release_facts WHERE story = s.story "
            " AND release_facts IS NOT NULL AND id <= :upto) "
            "AND EXISTS (SELECT 1 FROM articles a INDEXED BY idx_articles_story JOIN hits h ON h.article_id = a.id "
            " WHERE a.story = s.story AND a.id <= :upto AND a.story_features IS NOT NULL "
            " AND a.first_seen >= :releases AND a.first_seen < :since) LIMIT 1",
            {"upto": upto, "releases": iso(releases_since), "since": iso(since)}).fetchone() is not None

    def _keep_story_index(self, index: StoryIndex, window: str, newest: datetime | None, last: str | None) -> None:
        """Replace the kept story index with `index`, which holds every article of `window` stored up to now
        (the newest first seen at `newest`): its postings in rows of _KeptPostings.CHUNK entries, numbered by key id
        and chunk, the rest as parts, with a new mark (`taken`) that a process reading the old postings checks."""
        conn = self.db.conn
        upto = conn.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()[0]
        last = iso(newest) if newest is not None else (last or "")
        parts = index.snapshot()
        lengths = array("I")
        lengths.frombytes(parts["lengths"])
        postings, size, rows, start = memoryview(parts.pop("postings")), _KeptPostings.CHUNK * 12, [], 0
        for key_id, length in enumerate(lengths):
            end = start + length * lengths.itemsize
            rows += [((key_id << 20) + c, postings[at:min(at + size, end)])
                     for c, at in enumerate(range(start, end, size))]
            start = end
        conn.execute("DELETE FROM story_index")
        conn.execute("DELETE FROM story_postings")
        conn.executemany("INSERT INTO story_postings (id, entries) VALUES (?, ?)", rows)
        conn.executemany("INSERT INTO story_index (part, data) VALUES (?, ?)",
                         [*parts.items(), ("upto", str(upto).encode()), ("window", window.encode()),
                          ("last", last.encode()), ("taken", os.urandom(8).hex().encode())])
        conn.execute("DELETE FROM story_index_changes")

    # release facts are read from the partial index articles_release_facts (migration 015): the column sits
    # after the article's text in each row, so reading it from the table walks the text's overflow pages
    _RELEASE_STORY_IDS = "SELECT story FROM articles WHERE release_facts IS NOT NULL"
    # the newest release stories (migration 020): the newest N of the release ledger by its first date, and the
    # stories the ledger leaves out, those whose facts are not JSON (none unless a bug or a hand wrote them);
    # among these are the newest N of every release story, whose first dates the ledger holds as `stories` does
    _NEWEST_RELEASE_STORIES = (
        "SELECT story FROM (SELECT story FROM release_ledger INDEXED BY release_ledger_newest {since} "
        "ORDER BY first_seen DESC, story DESC LIMIT ?) UNION SELECT story FROM articles INDEXED BY "
        "articles_release_unreadable WHERE release_facts IS NOT NULL AND NOT json_valid(release_facts)")

    def release_stories(self, limit: int | None = None, since: datetime | None = None) -> list[dict]:
        """Stories with at least one article reporting a release, oldest first: their first headline and URL,
        when first seen, how many reports (copies included), and every release fact their articles gave.
        `limit`: only the newest that many (by first seen); `since`: only stories first seen since then."""
        where, params, order = [f"s.id IN ({self._RELEASE_STORY_IDS})"], [], ""
        if limit is not None:  # among the candidates only: not every release story sorted for the newest few
            where = [f"s.id IN ({self._NEWEST_RELEASE_STORIES.format(since='WHERE first_seen >= ?' if since else '')})"]
            params = [iso(since), limit] if since is not None else [limit]
        if since is not None:
            where.append("s.first_seen >= ?")
            params.append(iso(since))
        if limit is not None:
            order = "ORDER BY s.first_seen DESC, s.id DESC LIMIT ?"
            params.append(limit)
        # the stories are chosen first, then only theirs are counted
        rows = list(self.db.query(
            "SELECT r.id AS story, r.first_seen, r.alerted_rules, "
            "(SELECT count(*) FROM articles WHERE story = r.id) + (SELECT count(*) FROM sources src "
            " JOIN articles a ON a.id = src.article_id WHERE a.story = r.id) AS sources "
            f"FROM (SELECT s.id, s.first_seen, s.alerted_rules FROM stories s WHERE {' AND '.join(where)} {order}) r "
            "ORDER BY r.first_seen, r.id", params))
        ids = [row["story"] for row in rows]
        firsts, facts = self._first_reports(ids), self._release_facts(ids)
        return [{**row, "title": firsts[row["story"]]["title"], "url": firsts[row["story"]]["url"],
                 "alerted": bool(json.loads(row["alerted_rules"] or "[]")), "facts": facts[row["story"]]}
                for row in rows]

    def count_release_stories(self, since: datetime | None = None) -> int:
        """How many stories have an article reporting a release (first seen since `since`)."""
        return self.db.execute(f"SELECT count(*) FROM stories WHERE id IN ({self._RELEASE_STORY_IDS}) "
                               "AND first_seen >= ?", [iso(since) if since else ""]).fetchone()[0]

    def release_ledger(self) -> tuple[tuple[int, int, str | None], list[dict]]:
        """The release ledger's running totals: (stories, people, earliest date) summed in SQL for every story
        reported by one article whose count is plain (a number, or at most one name); the other stories, whose
        facts must be merged (monitor.decide.merge.merged_facts: the most reported number, names spelled
        several ways counted once), as release_stories gives them. Read from the per-story ledger the writes
        keep (migration 017), along one index: no release report is grouped or joined at read time, and the plain
        totals are kept too (migration 022): nothing here walks every release story."""
        # the totals kept by migration 022's triggers; summed as before while a plain row's people is not an integer
        count, people, odd = self.db.execute("SELECT stories, people, odd FROM release_totals WHERE id = 1").fetchone()
        if odd:
            count, people = self.db.execute(
                "SELECT count(*), coalesce(sum(people), 0) FROM release_ledger WHERE simple = 1").fetchone()
        first = self.db.execute("SELECT min(day) FROM release_ledger WHERE simple = 1").fetchone()[0]  # one seek
        others = sorted(({"story": story, "first_seen": seen} for story, seen in self.db.execute(
                            "SELECT story, first_seen FROM release_ledger WHERE simple = 0")),
                        key=lambda o: (o["first_seen"] is not None, o["first_seen"] or "", o["story"]))
        facts = self._release_facts([o["story"] for o in others])
        return (count, people, first), [{**o, "facts": facts[o["story"]]} for o in others]

    def _first_reports(self, stories: Sequence[str]) -> dict[str, dict]:
        """Per story, the title and URL of its first article."""
        first: dict[str, dict] = {}
        for chunk in _chunks(stories):
            for row in self.db.query(
                    "SELECT story, title, coalesce(canonical_url, url) AS url FROM articles "
                    f"WHERE story IN ({', '.join('?' * len(chunk))}) ORDER BY story, first_seen, id", chunk):
                first.setdefault(row["story"], row)
        return first

    def _release_facts(self, stories: Sequence[str]) -> dict[str, list[dict]]:
        """Per story, the release facts its articles gave, oldest article first."""
        facts: dict[str, list[dict]] = {story: [] for story in stories}
        for chunk in _chunks(stories):
            for story, stored in self.db.execute(
                    "SELECT story, release_facts FROM articles INDEXED BY articles_release_facts "
                    f"WHERE release_facts IS NOT NULL AND story IN ({', '.join('?' * len(chunk))}) "
                    "ORDER BY story, first_seen, id", chunk):
                facts[story].append(json.loads(stored))
        return facts

    def suppressions(self, pending_digest: bool = False) -> list[dict]:
        where = "WHERE digest_message IS NULL" if pending_digest else ""
        return list(self.db.query(f"SELECT * FROM suppressions {where} ORDER BY id"))

    def hits(self, since: datetime | None = None, rule: str | None = None) -> list[dict]:
        """Stored hits, one row per article, oldest first, with their rule names."""
        where, params = ["1 = 1"], {}
        if since is not None:
            where.append("h.first_seen >= :since")
            params["since"] = iso(since)
        if rule is not None:
            where.append("a.id IN (SELECT article_id FROM hits WHERE rule = :rule)")
            params["rule"] = rule
        return self._hit_rows(" AND ".join(where), params, order="ORDER BY a.first_seen, a.id")

    def hits_of_latest_stories(self, since: datetime, stories: int) -> list[dict]:
        """The rows of `hits(since)` of the stories an Atom feed of `stories` entries shows: those whose newest
        hitting article (first seen) is among the `stories` newest, ties included (monitor.atom.hits_feed sorts
        stories so, and given these rows gives the very feed it gives from every row of the window).
        Found by walking the window's hits newest first, reading their articles' story and first_seen, until no
        story still unseen can rank: a hit is stored with or after its article, so every article still to come
        was first seen no later than the hit reached. Then only those stories' rows are read: a cycle that
        stored hits rewrites the feed from a few hundred stories, not from 30 days of hits."""
        newest: dict[str, str] = {}  # story key (as hits_feed keys it) -> its newest hitting article's first_seen
        keyed: dict[str, int] = {}  # keys that are an article's id (no story): that article
        # the `stories`-th largest of each story's first value met: never above the true rank's value (a
        # story's value only grows), so stopping below it is safe; the exact rank is taken at the end
        floor: list[str] = []
        for reached, article_id, story, seen in self.db.execute(
                "SELECT h.first_seen, a.id, a.story, a.first_seen FROM hits h INDEXED BY hits_first_seen "
                "JOIN articles a ON a.id = h.article_id WHERE h.first_seen >= ? ORDER BY h.first_seen DESC",
                [iso(since)]):
            if len(floor) == stories and reached < floor[0]:
                break
            key = str(story or article_id)
            if key not in newest:
                (heapq.heappush if len(floor) < stories else heapq.heappushpop)(floor, seen)
                if not story:
                    keyed[key] = article_id
            if seen > newest.get(key, ""):
                newest[key] = seen
        if len(newest) > stories:
            rank = heapq.nlargest(stories, newest.values())[-1]
            newest = {key: seen for key, seen in newest.items() if seen >= rank}
        if not newest:
            return []
        # a key that is an article's id (its story unset) is also looked up as a story: hits_feed puts both together
        ids = [keyed[key] for key in newest if key in keyed]
        rows = []
        for chunk in _chunks(list(newest)):  # the stories' articles from the story index; then their window hits
            rows += self._hit_rows("h.first_seen >= ? AND a.id IN (SELECT id FROM articles INDEXED BY "
                                   f"idx_articles_story WHERE story IN ({', '.join('?' * len(chunk))}))",
                                   [iso(since), *chunk])
        for chunk in _chunks(ids):
            rows += self._hit_rows(f"h.first_seen >= ? AND a.id IN ({', '.join('?' * len(chunk))})",
                                   [iso(since), *chunk])
        return sorted({row["id"]: row for row in rows}.values(), key=lambda r: (r["first_seen"], r["id"]))  # as hits()

    def _hit_rows(self, where: str, params: list | dict, order: str = "") -> list[dict]:
        """Hit records, one per article: the article's columns a record shows (monitor.records), not a.*: its
        text is most of the row, and reading it for every hit of a window cost ~6x the rest."""
        return [self._hit_row(r) for r in self.db.query(
            f"SELECT {_HIT_COLUMNS}, group_concat(h.rule, char(31)) AS rules, min(h.first_seen) AS hit_first_seen, "
            "max(h.alert_message IS NOT NULL) AS alerted, "
            "(SELECT snippet FROM hits WHERE article_id = a.id ORDER BY rule LIMIT 1) AS snippet "
            f"FROM hits h JOIN articles a ON a.id = h.article_id WHERE {where} GROUP BY a.id {order}", params)]

    @staticmethod
    def _hit_row(r: dict) -> dict:
        return {**r, "rules": sorted(r["rules"].split("\x1f")) if r["rules"] else [],
                "alerted": bool(r["alerted"])}

    def articles(self, since: datetime | None = None) -> Iterator[dict]:
        """Stored articles (id, url, title, text, first_seen), oldest first, for backtests."""
        yield from self.db.query(
            "SELECT id, coalesce(canonical_url, url) AS url, title, text, first_seen FROM articles "
            "WHERE first_seen >= :since ORDER BY first_seen, id", {"since": iso(since) if since else ""})

    def count_articles(self, since: datetime | None = None) -> int:
        return self.db.execute("SELECT count(*) FROM articles WHERE first_seen >= ?",
                               [iso(since) if since else ""]).fetchone()[0]

    def article_ids_with(self, rule: str, since: datetime | None = None) -> set[int]:
        return {r["article_id"] for r in self.db.query(
            "SELECT h.article_id FROM hits h JOIN articles a ON a.id = h.article_id "
            "WHERE h.rule = :rule AND a.first_seen >= :since", {"rule": rule, "since": iso(since) if since else ""})}

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("feeds", "articles", "hits", "messages", "deliveries")}

    # -- retention ------------------------------------------------------------------------------

    # What retention keeps is found in narrow indexes, never by reading other article rows: release_facts and story
    # lie after the text in a row, so testing them on each article of a story walked its text. The articles kept
    # are those with a hit or reporting a release, and every article of a story with a release report (the facts'
    # partial index) or a hit (the story index, probed against the hits): asked of each candidate, not by listing
    # every kept story of the store first (622,500 at 1,000,000 stored: 0.7 s).
    _PRUNABLE_WHERE = ("a.first_seen < :cutoff AND NOT EXISTS (SELECT 1 FROM hits h WHERE h.article_id = a.id) "
                       "AND a.release_facts IS NULL AND (a.story IS NULL OR (NOT EXISTS (SELECT 1 FROM articles r "
                       "INDEXED BY articles_release_facts WHERE r.story = a.story AND r.release_facts IS NOT NULL) "
                       "AND NOT EXISTS (SELECT 1 FROM articles b INDEXED BY idx_articles_story JOIN hits h ON "
                       "h.article_id = b.id WHERE b.story = a.story)))")
    _PRUNABLE = f"SELECT id FROM articles a WHERE {_PRUNABLE_WHERE} "
    # behind a part's mark (migration 019): only what aged past the mark since, and what the triggers noted
    _CANDIDATES = ("a.id IN (SELECT id FROM articles INDEXED BY idx_articles_first_seen WHERE first_seen >= :mark "
                   "AND first_seen < :cutoff UNION ALL SELECT article_id FROM retention_changes) AND ")

    def _prunable(self, marks: Mapping[str, str], part: str, cutoff: datetime) -> tuple[str, dict]:
        """The WHERE (over `articles a`) of what `part` of retention may drop before `cutoff`, and its parameters."""
        params = {"cutoff": iso(cutoff)}
        if part not in marks:
            return self._PRUNABLE_WHERE, params
        return self._CANDIDATES + self._PRUNABLE_WHERE, {**params, "mark": marks[part]}

    def prune(self, *, text_before: datetime | None, articles_before: datetime | None,
              messages_before: datetime | None, dry_run: bool = False,
              step: Callable[[str], None] | None = None) -> dict[str, int]:
        """Drop what retention allows: the text of articles without hits first seen before `text_before`;
        articles without hits (outside stories with hits or release reports) before `articles_before`, with
        their copies; messages created before `messages_before` whose every delivery was sent. Hits, their
        articles, stories and the release ledger are never touched. Returns how many of each. `step` is told
        each part as it begins (progress on a terminal). A prune that drops moves each part's mark up to its
        cutoff, so the next reads only what aged past it since, and what changed behind it (migration 019)."""
        out = {"texts": 0, "articles": 0, "messages": 0}
        step = step or (lambda _name: None)
        verb = "counting" if dry_run else "dropping"
        with self.transaction():
            marks = dict(self.db.execute("SELECT part, upto FROM retention_marks"))
            if text_before is not None:
                step(f"{verb} the text of old articles without hits")
                where, params = self._prunable(marks, "texts", text_before)
                held = " AND (a.text IS NOT NULL OR a.summary IS NOT NULL)"
                # counted on each candidate row as it is read, not through a list of every prunable id first
                out["texts"] = self.db.execute(f"SELECT count(*) FROM articles a WHERE {where}{held}",
                                               params).fetchone()[0]
                if not dry_run and out["texts"]:  # the search index's trigger lets the text go (title, outlet stay)
                    self.db.execute("UPDATE articles SET text = NULL, summary = NULL, story_features = NULL "
                                    f"WHERE id IN (SELECT id FROM articles a WHERE {where}{held})", params)
            if articles_before is not None:
                step(f"{verb} old articles without hits")
                where, params = self._prunable(marks, "articles", articles_before)
                out["articles"] = self.db.execute(f"SELECT count(*) FROM articles a WHERE {where}",
                                                  params).fetchone()[0]
                if not dry_run and out["articles"]:
                    self.db.execute("DELETE FROM sources WHERE article_id IN "
                                    f"(SELECT id FROM articles a WHERE {where})", params)
                    self.db.execute(f"DELETE FROM articles WHERE id IN (SELECT id FROM articles a WHERE {where})",
                                    params)
            if messages_before is not None:
                step(f"{verb} delivered messages")
                done = ("SELECT m.id FROM messages m WHERE m.created < :cutoff AND NOT EXISTS "
                        "(SELECT 1 FROM deliveries d WHERE d.message_id = m.id AND d.status != 'sent')")
                params = {"cutoff": iso(messages_before)}
                out["messages"] = self.db.execute(f"SELECT count(*) FROM ({done})", params).fetchone()[0]
                if not dry_run:
                    self.db.execute(f"DELETE FROM deliveries WHERE message_id IN ({done})", params)
                    self.db.execute(f"DELETE FROM messages WHERE id IN ({done})", params)
            if not dry_run:
                self._move_marks(marks, {"texts": text_before, "articles": articles_before})
        return out

    def _move_marks(self, marks: Mapping[str, str], cutoffs: Mapping[str, datetime | None]) -> None:
        """After a prune: each part pruned is done up to its cutoff (a mark never moves back: behind it, what a
        longer retention keeps was dropped already, and what changed since is noted); a part not pruned loses its
        mark (nothing keeps its notes: the next prune of it reads everything). The notes every part has now
        read (first seen before each cutoff; or deleted) are cleared; a later one (a longer retention's) stays."""
        for part, cutoff in cutoffs.items():
            if cutoff is None:
                self.db.execute("DELETE FROM retention_marks WHERE part = ?", [part])
            elif iso(cutoff) > marks.get(part, ""):
                self.db.execute("INSERT OR REPLACE INTO retention_marks (part, upto) VALUES (?, ?)",
                                [part, iso(cutoff)])
        ran = [iso(cutoff) for cutoff in cutoffs.values() if cutoff is not None]
        if not ran:
            self.db.execute("DELETE FROM retention_changes")
            return
        self.db.execute("DELETE FROM retention_changes WHERE NOT EXISTS (SELECT 1 FROM articles WHERE "
                        "id = retention_changes.article_id AND first_seen >= ?)", [min(ran)])

    def reclaim(self) -> int:
        """Give freed pages back to the file system; returns the bytes freed. A database created with
        auto_vacuum=incremental frees them in steps; an older one (auto_vacuum off: switching it needs a full
        VACUUM anyway) gets a full VACUUM only when a quarter of it is free pages, so a daily prune that
        freed little does not rewrite a large file."""
        page = self.db.execute("PRAGMA page_size").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        total = self.db.execute("PRAGMA page_count").fetchone()[0]
        if not free:
            return 0
        if self.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            self.db.execute("PRAGMA incremental_vacuum")
        elif free * 4 >= total:
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # the VACUUM makes it incremental from then on
            self.db.execute("VACUUM")
        else:
            return 0
        return (free - self.db.execute("PRAGMA freelist_count").fetchone()[0]) * page

    # -- the service's health and schedule -----------------------------------------------------

    def record_heartbeat(self, job: str, started: datetime, finished: datetime | None = None,
                         counts: Mapping[str, object] | None = None, pid: int | None = None) -> None:
        """Rewrite `job`'s heartbeat: a run that began (finished None) or ended, with its counts."""
        seconds = None if finished is None else round((finished - started).total_seconds(), 3)
        with self.transaction():
            self.db.execute(
                "INSERT INTO heartbeats (job, started, finished, seconds, counts, pid) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(job) DO UPDATE SET started = excluded.started, finished = excluded.finished, "
                "seconds = excluded.seconds, counts = coalesce(excluded.counts, heartbeats.counts), "
                "pid = excluded.pid",
                [job, iso(started), iso(finished) if finished else None, seconds, _json(counts), pid])

    def heartbeats(self) -> dict[str, dict]:
        """job -> its last heartbeat (started, finished, seconds, counts as a dict, pid)."""
        return {r["job"]: {**r, "counts": json.loads(r["counts"]) if r["counts"] else {}}
                for r in self.db.query("SELECT * FROM heartbeats")}

    def claim_slot(self, job: str, slot: datetime, now: datetime) -> bool | None:
        """Record that `job` runs for `slot`: True when the slot is newer than the last one run (the caller
        runs it), False when it already ran; None when the job never ran here (the slot is only recorded as
        the starting point: a first start sends nothing it could not have missed)."""
        with self.transaction():
            found = self.db.execute("SELECT slot FROM schedule WHERE job = ?", [job]).fetchone()
            if found is not None and found[0] >= iso(slot):
                return False
            self.db.execute("INSERT INTO schedule (job, slot, ran) VALUES (?,?,?) ON CONFLICT(job) DO UPDATE "
                            "SET slot = excluded.slot, ran = excluded.ran", [job, iso(slot), iso(now)])
        return None if found is None else True

    def schedule_rows(self) -> dict[str, dict]:
        return {r["job"]: r for r in self.db.query("SELECT * FROM schedule")}

    def next_poll(self) -> str | None:
        """When the earliest enabled feed is next due (None: no feeds; a feed never polled is due now)."""
        row = self.db.execute("SELECT count(*), min(coalesce(next_check, '')) FROM feeds WHERE disabled = 0").fetchone()
        return None if not row[0] else row[1]

    def delivery_counts(self) -> dict[str, int]:
        """How many deliveries are in each state (pending, sent, ...)."""
        return dict(self.db.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())

    def size_bytes(self) -> int:
        """The database on disk, its write-ahead log included."""
        path = self.db.execute("PRAGMA database_list").fetchone()[2]
        if not path:
            return 0
        return sum(Path(path + suffix).stat().st_size for suffix in ("", "-wal") if Path(path + suffix).exists())

    # -- messages -----------------------------------------------------------------------------

    def pending_items(self, kind: str, sentences: bool = True) -> tuple[list[MessageItem], list[int]]:
        """Items not yet sent as `kind`: alert-flagged hits for "alert", every hit for "digest". `sentences`
        false: without each hit's sentence and why (snippet, why and the reasons' sentences are empty), the
        widest columns and all that placing and counting stories does without; `with_sentences` adds them to
        the items a message shows (a day's digest at 1,000,000 stored articles: 14,854 items, a few dozen
        shown)."""
        column = "alert_message" if kind == "alert" else "digest_message"
        extra = "AND h.alert = 1" if kind == "alert" else ""
        return self._message_items(f"h.{column} IS NULL {extra}", [], sentences)

    def with_sentences(self, items: Sequence[MessageItem]) -> list[MessageItem]:
        """`items` read without their sentences (pending_items), as a read with them gives them."""
        found: dict[tuple[int, str], tuple[str | None, str | None]] = {}
        for chunk in _chunks(sorted({i.article_id for i in items})):
            for article_id, rule, snippet, why in self.db.execute(
                    "SELECT article_id, rule, snippet, why FROM hits "
                    f"WHERE article_id IN ({', '.join('?' * len(chunk))})", chunk):
                found[article_id, rule] = snippet, why
        out = []
        for item in items:
            texts = [found[item.article_id, rule] for rule, _, _ in item.reasons]
            pairs = list(zip(item.reasons, texts, strict=True))
            reasons = tuple((rule, snippet or "", ws) for (rule, _, ws), (snippet, _) in pairs)
            why = "\n".join(f"{rule}: {w}" for (rule, _, _), (_, w) in pairs if w)  # one rule: "rule: why" or ""
            out.append(MessageItem.of(**{**vars(item), "snippet": reasons[0][1], "why": why, "reasons": reasons}))
        return out

    def story_items(self, story: str, alerting: bool = True) -> list[MessageItem]:
        """The items of one story as its alert carries them, sent or not: its alert-flagged hits (`alerting`),
        or every hit of it."""
        return self._message_items("a.story = ?" + (" AND h.alert = 1" if alerting else ""), [story])[0]

    def _message_items(self, where: str, params: list, sentences: bool = True
                       ) -> tuple[list[MessageItem], list[int]]:
        # the article columns an item carries, not a.*: the texts (~5 KB each) would be read for nothing. Rows as
        # tuples, and each distinct words list parsed once: a day of ~20,000 hits repeats a few hundred of them.
        # Sorted here, not by an ORDER BY: SQLite's sorter copies every wide row (snippet and why, ~640
        # characters) into a temporary b-tree, ~30 ms for a day of 21,482 hits; the key is the same (text
        # compares alike as UTF-8 bytes and as code points, and an article has one hit per rule).
        rows = self.db.execute(
            f"SELECT h.id, h.rule, {'h.snippet' if sentences else 'NULL'}, h.alert_message, h.words, "
            f"{'h.why' if sentences else 'NULL'}, {_ITEM_COLUMNS}, a.release_facts "
            f"FROM hits h JOIN articles a ON a.id = h.article_id WHERE {where}", params).fetchall()
        rows.sort(key=_ITEM_ORDER)  # a.first_seen, a.id, h.rule
        groups = [list(group) for _, group in groupby(rows, key=_ITEM_ARTICLE)]  # an article's rows are together
        parsed: dict[str | None, tuple[str, ...]] = {}
        unique: dict[str | None, tuple[str, ...]] = {}

        def words(stored: str | None) -> tuple[str, ...]:
            found = parsed.get(stored)
            if found is None:
                found = parsed[stored] = tuple(json.loads(stored or "[]"))
            return found

        read: dict[str, list[tuple]] = {}  # per story, the reports of it these rows hold, as _story_context reads them
        for group in groups:
            *_, canonical_url, url, feed_name, _, _, stored_story, _, outlet_url, release_facts = group[0]
            if stored_story:
                report = (feed_name, url if canonical_url is None else canonical_url, release_facts, outlet_url)
                found = read.get(stored_story)
                if found is None:
                    read[stored_story] = [report]
                else:
                    found.append(report)
        sources, facts, announced, counts = self._story_context(read.keys(), read)
        items = []
        for group in groups:
            (_, rule, snippet, alert_message, stored_words, why, article_id, title, canonical_url, url, feed_name,
             published, first_seen, stored_story, text_source, outlet_url, _) = group[0]
            story = stored_story or str(article_id)
            told = announced.get(story)
            if len(group) == 1:  # most articles hit one rule
                matched = unique.get(stored_words)
                if matched is None:
                    matched = unique[stored_words] = tuple(dict.fromkeys(words(stored_words)))
                reasons = ((rule, snippet or "", words(stored_words)),)
                rules, alerted, why = (rule,), bool(alert_message), f"{rule}: {why}" if why else ""
                # a follow-up: its story was announced by a message that did not carry this article
                followup = told is not None and told != alert_message
            else:
                reasons = tuple((g[1], g[2] or "", words(g[4])) for g in group)
                matched = tuple(dict.fromkeys(w for reason in reasons for w in reason[2]))
                rules, alerted = tuple(sorted({g[1] for g in group})), any(g[3] for g in group)
                why = "\n".join(f"{g[1]}: {g[5]}" for g in group if g[5])
                followup = told is not None and told not in {g[3] for g in group}
            items.append(MessageItem.of(  # the fields in their order: vars() as __init__ gives it
                article_id=article_id, title=title or "(untitled)", url=canonical_url or url or "",
                feed=feed_name or "", published=published, first_seen=first_seen, rules=rules, story=story,
                snippet=snippet or "", text_source=text_source or "page", alerted=alerted, matched=matched, why=why,
                sources=sources.get(story, ()), facts=facts.get(story, ()), followup=followup, reasons=reasons,
                outlet_url=outlet_url, announced=told, sources_count=counts.get(story, 0)))
        return items, [row[0] for row in rows]

    def _story_context(self, stories: Iterable[str], read: Mapping[str, list[tuple]] | None = None
                       ) -> tuple[dict, dict, dict, dict]:
        """Per story: its first reports (feed, url, outlet url) incl. copies, up to SOURCES_LISTED, and how many
        there are; its articles' release facts; whether an earlier message already announced it. Read a few
        hundred stories per query (a digest has ~1,500 stories: four queries each cost more than its queries).
        `read`: reports of some stories the caller has read already ((feed, url, facts, outlet url), oldest
        first): a story the story index says has no other article is not read again (a day's digest: most).
        A story without rows is left out of each dict (the caller's .get gives what an empty entry gave).
        Each distinct facts text is parsed once (a story's reports often repeat their facts)."""
        read = read or {}
        reports: dict[str, list] = {}
        copies: dict[str, list] = {}
        announced: dict[str, str | None] = {}
        for chunk in _chunks(sorted(stories)):
            marks = ", ".join("?" * len(chunk))
            members = dict(self.db.execute(f"SELECT story, count(*) FROM articles INDEXED BY idx_articles_story "
                                           f"WHERE story IN ({marks}) GROUP BY story", chunk))
            others = []
            for story in chunk:
                known = read.get(story)
                if known is not None and len(known) == members.get(story):
                    reports[story] = known
                else:
                    others.append(story)
            for part in _chunks(others) if others else ():
                for story, *row in self.db.execute(
                        "SELECT story, feed_name, coalesce(canonical_url, url), release_facts, outlet_url FROM "
                        f"articles WHERE story IN ({', '.join('?' * len(part))}) ORDER BY story, first_seen, id",
                        part):
                    found = reports.get(story)
                    if found is None:
                        reports[story] = [row]
                    else:
                        found.append(row)
            for story, *row in self.db.execute(
                    "SELECT a.story, s.feed_name, s.url, s.outlet_url FROM sources s JOIN articles a ON a.id = "
                    f"s.article_id WHERE a.story IN ({marks}) ORDER BY a.story, s.first_seen, s.id", chunk):
                copies.setdefault(story, []).append(row)
            announced.update(self.db.execute(f"SELECT id, announced FROM stories WHERE id IN ({marks}) "
                                             "AND announced IS NOT NULL", chunk))
        sources: dict[str, tuple] = {}
        facts: dict[str, tuple] = {}
        counts: dict[str, int] = {}
        parsed: dict[str, dict] = {}

        def parse(stored: str) -> dict:
            found = parsed.get(stored)
            if found is None:
                found = parsed[stored] = json.loads(stored)
            return found

        for story in reports.keys() | copies.keys() if copies else reports:
            rows, copied = reports.get(story, ()), copies.get(story, ())
            counts[story] = len(rows) + len(copied)
            listed = [(feed or "", url or "", outlet) for feed, url, _, outlet in rows[:SOURCES_LISTED]]
            if copied:
                room = SOURCES_LISTED - len(listed)
                listed += [(feed or "", url or "", outlet) for feed, url, outlet in copied[:room]]
            sources[story] = tuple(listed)
            stored_facts = [parse(stored) for _, _, stored, _ in rows if stored]
            if stored_facts:
                facts[story] = tuple(stored_facts)
        return sources, facts, announced, counts

    def save_message(self, message: Message, hit_ids: Sequence[int], channels: Sequence[str],
                     suppression_ids: Sequence[int] = ()) -> None:
        """Record a message, claim its hits (and the suppression log lines it reports) for it, mark its
        stories announced, and queue one delivery per channel, atomically."""
        column = "alert_message" if message.kind == "alert" else "digest_message"
        with self.transaction():
            self.db["messages"].insert({
                "id": message.id, "kind": message.kind, "created": message.created,
                "subject": message.subject, "text": message.text, "html": message.html,
                "json": json.dumps(message.data, ensure_ascii=False)})
            for start in range(0, len(hit_ids), 500):
                chunk = list(hit_ids[start:start + 500])
                self.db.execute(f"UPDATE hits SET {column} = ? WHERE id IN ({','.join('?' * len(chunk))})",
                                [message.id, *chunk])
            for channel in channels:
                self.db["deliveries"].insert({"message_id": message.id, "channel": channel,
                                              "status": "pending", "attempts": 0, "queued": message.created})
            # a few hundred stories a statement: a day's digest announces ~15,000 (one statement each cost ~0.2 s)
            for chunk in _chunks(sorted({item.story for item in message.items})):
                self.db.execute(f"UPDATE stories SET announced = ? WHERE id IN ({', '.join('?' * len(chunk))}) "
                                "AND announced IS NULL", [message.id, *chunk])
            for row_id in suppression_ids:
                self.db.execute("UPDATE suppressions SET digest_message = ? WHERE id = ?", [message.id, row_id])

    def pending_deliveries(self, now: datetime, channels: Sequence[str]) -> list[Delivery]:
        """Deliveries not yet made whose retry time has come, for channels that still exist and that no
        server asked us to leave alone for now (Retry-After)."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        rows = self.db.query(
            "SELECT d.message_id, d.channel, d.attempts, d.failure, d.recipients, d.ref, d.last_error, "
            "coalesce(d.queued, m.created) AS queued, m.kind, m.subject, m.text, m.html, m.json "
            "FROM deliveries d JOIN messages m ON m.id = d.message_id "
            f"WHERE d.status = 'pending' AND d.channel IN ({marks}) "
            "AND (d.next_attempt IS NULL OR d.next_attempt <= ?) "
            "AND d.channel NOT IN (SELECT channel FROM channel_holds WHERE until > ?) "
            # a message's channels in the order it was queued to them (the config's): the round takes the
            # channels in the order they come here, whatever index the rows are read by
            "ORDER BY m.created, m.id, d.rowid", [*channels, iso(now), iso(now)])
        return [Delivery(r["message_id"], r["channel"], r["attempts"], r["kind"], r["subject"], r["text"],
                         r["html"], json.loads(r["json"]), queued=r["queued"], failure=r["failure"],
                         recipients=json.loads(r["recipients"] or "{}"), ref=r["ref"], last_error=r["last_error"])
                for r in rows]

    def overdue_deliveries(self, before: datetime, channels: Sequence[str]) -> list[dict]:
        """Deliveries still pending that were queued before `before` (past the give-up time), held channels too."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        return list(self.db.query(
            "SELECT d.message_id, d.channel, d.failure, d.last_error FROM deliveries d "
            "JOIN messages m ON m.id = d.message_id "
            f"WHERE d.status = 'pending' AND d.channel IN ({marks}) AND coalesce(d.queued, m.created) < ? "
            "ORDER BY m.created, m.id, d.rowid", [*channels, iso(before)]))

    def begin_attempt(self, message_id: str, channel: str, now: datetime, ref: str | None) -> None:
        """Committed before the send: a crash mid-send leaves the attempt counted and visible
        (`attempt_started`), and the identifier receivers fold a resent copy by already kept."""
        with self.transaction():
            self.db.execute("UPDATE deliveries SET attempts = attempts + 1, attempt_started = ?, "
                            "ref = coalesce(ref, ?) WHERE message_id = ? AND channel = ?",
                            [iso(now), ref, message_id, channel])

    def record_sent(self, message_id: str, channel: str, now: datetime, recipients: dict | None = None) -> None:
        """Committed right after the server accepted the message: the window in which a crash makes
        it go out twice is this one statement."""
        with self.transaction():
            self.db.execute("UPDATE deliveries SET status = 'sent', sent_at = ?, attempt_started = NULL, "
                            "last_error = NULL, failure = NULL, next_attempt = NULL, "
                            "recipients = coalesce(?, recipients) WHERE message_id = ? AND channel = ?",
                            [iso(now), _json(recipients), message_id, channel])

    def record_progress(self, message_id: str, channel: str, progress: dict) -> None:
        """Part of a message was taken (Slack: posts of a long one): merged into its recipients record and
        committed at once, so a retry after any interruption resumes at the first part not taken."""
        with self.transaction():
            self.db.execute("UPDATE deliveries SET recipients = json_patch(coalesce(recipients, '{}'), ?) "
                            "WHERE message_id = ? AND channel = ?", [_json(progress), message_id, channel])

    def record_failure(self, message_id: str, channel: str, *, status: str, error: str, failure: str | None,
                       next_attempt: datetime | None, recipients: dict | None = None) -> None:
        """A failed try: pending with its next attempt, or dead with the reason."""
        with self.transaction():
            self.db.execute(
                "UPDATE deliveries SET status = ?, last_error = ?, failure = ?, next_attempt = ?, "
                "attempt_started = NULL, reason = CASE WHEN ? = 'dead' THEN ? ELSE NULL END, "
                "recipients = coalesce(?, recipients) WHERE message_id = ? AND channel = ?",
                [status, error[:2000], failure, iso(next_attempt) if next_attempt else None, status, error[:2000],
                 _json(recipients), message_id, channel])

    def postpone(self, channel: str, until: datetime) -> None:
        """A channel that is down: its other due deliveries wait as long as the one that failed."""
        with self.transaction():
            self.db.execute("UPDATE deliveries SET next_attempt = ? WHERE channel = ? AND status = 'pending' "
                            "AND (next_attempt IS NULL OR next_attempt < ?)", [iso(until), channel, iso(until)])

    def hold_channel(self, channel: str, until: datetime, reason: str) -> None:
        """Send nothing to `channel` before `until` (the server's Retry-After), new messages included."""
        with self.transaction():
            self.db.execute("INSERT INTO channel_holds (channel, until, reason) VALUES (?, ?, ?) "
                            "ON CONFLICT(channel) DO UPDATE SET until = excluded.until, reason = excluded.reason",
                            [channel, iso(until), reason[:500]])

    def channel_holds(self, now: datetime) -> list[dict]:
        return list(self.db.query("SELECT * FROM channel_holds WHERE until > ? ORDER BY channel", [iso(now)]))

    def deliveries_of(self, message_id: str) -> list[dict]:
        """One message's deliveries, in the order it was queued to its channels."""
        return list(self.db.query("SELECT * FROM deliveries WHERE message_id = ? ORDER BY rowid", [message_id]))

    def unsent_deliveries(self) -> list[dict]:
        """Every delivery not sent (pending, retrying, in doubt, dead), oldest message first."""
        return [{**r, "recipients": json.loads(r["recipients"] or "{}")} for r in self.db.query(
            "SELECT d.*, coalesce(d.queued, m.created) AS queued, m.kind, m.subject, m.created "
            "FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.status != 'sent' "
            "ORDER BY m.created, m.id, d.channel")]

    def requeue(self, now: datetime, message_id: str | None = None, *, dead_only: bool = False) -> int:
        """`outbox retry`: dead (and, for one message, retrying) deliveries become due now, their
        refused recipients with them; the give-up clock starts again. A Retry-After hold on their channels
        is lifted: the user asked for this send now (a server still busy answers 429 and holds the
        channel again). Returns how many."""
        where = ["status != 'sent'"]
        params: list = []
        if dead_only:
            where.append("status = 'dead'")
        if message_id is not None:
            where.append("message_id = ?")
            params.append(message_id)
        with self.transaction():
            rows = list(self.db.query(f"SELECT message_id, channel, recipients FROM deliveries "
                                      f"WHERE {' AND '.join(where)}", params))
            for row in rows:
                recipients = {addr: {**r, "status": "pending", "failure": None} if r.get("status") != "sent" else r
                              for addr, r in json.loads(row["recipients"] or "{}").items()}
                self.db.execute(
                    "UPDATE deliveries SET status = 'pending', next_attempt = NULL, failure = NULL, reason = NULL, "
                    "reported = NULL, queued = ?, recipients = ? WHERE message_id = ? AND channel = ?",
                    [iso(now), _json(recipients) if recipients else None, row["message_id"], row["channel"]])
            for channel in {row["channel"] for row in rows}:
                self.db.execute("DELETE FROM channel_holds WHERE channel = ?", [channel])
        return len(rows)

    def delivery_problems(self, now: datetime, stale_before: datetime) -> list[dict]:
        """For the digest's health section: dead deliveries not reported yet, and deliveries still
        pending since before `stale_before`."""
        return list(self.db.query(
            "SELECT d.message_id, d.channel, d.status, d.attempts, d.last_error, d.reason, m.kind, m.subject, "
            "coalesce(d.queued, m.created) AS queued FROM deliveries d JOIN messages m ON m.id = d.message_id "
            "WHERE (d.status = 'dead' AND d.reported IS NULL) "
            "OR (d.status = 'pending' AND coalesce(d.queued, m.created) <= ?) ORDER BY m.created, d.channel",
            [iso(stale_before)]))

    def mark_reported(self, problems: Sequence[dict], message_id: str) -> None:
        """Dead deliveries a digest reported are not reported again (`outbox` still lists them)."""
        with self.transaction():
            for row in (r for r in problems if r["status"] == "dead"):
                self.db.execute("UPDATE deliveries SET reported = ? WHERE message_id = ? AND channel = ?",
                                [message_id, row["message_id"], row["channel"]])

    def deliveries(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM deliveries ORDER BY message_id, channel"))


# -- read-only views for `news-monitor browse` (Datasette's canned queries) ----------------------------------

STORIES_LISTED = 500  # the browse view's stories: a canned query has no paging (Datasette stops at 1,000 rows)


def browse_queries(utc_offset_minutes: int = 0) -> dict[str, dict[str, str]]:
    """Datasette canned queries over this schema: name -> title, description, sql. Read-only SELECTs (Datasette
    runs them on a read-only connection). `utc_offset_minutes`: where the user's day starts, for "today"."""
    shift = f"{utc_offset_minutes:+d} minutes"
    back = f"{-utc_offset_minutes:+d} minutes"
    today = f"strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '{shift}', 'start of day', '{back}')"
    reports = ("(SELECT count(*) FROM articles WHERE story = s.id) + (SELECT count(*) FROM sources src "
               "JOIN articles a ON a.id = src.article_id WHERE a.story = s.id)")
    # Columns stored after an article's text (first_seen, story, release_facts) cost a walk through the text's
    # overflow pages: the story's articles are found on idx_articles_story, and ordered by id (the order stored).
    outlets = ("(SELECT group_concat(outlet, ', ') FROM (SELECT DISTINCT feed_name AS outlet FROM "
               "(SELECT feed_name, 0 AS copy, id FROM articles WHERE story = s.id UNION ALL SELECT src.feed_name, "
               "1, src.id FROM sources src JOIN articles a ON a.id = src.article_id WHERE a.story = s.id) "
               "WHERE feed_name IS NOT NULL ORDER BY copy, id))")
    lead = "(SELECT {column} FROM articles WHERE story = s.id ORDER BY id LIMIT 1)"
    # release facts are read on the partial index articles_release_facts (migration 013), never from the rows
    facts = ("SELECT json_extract(release_facts, '{pick}') AS fact FROM articles WHERE story = s.id "
             "AND release_facts IS NOT NULL AND fact IS NOT NULL")
    return {
        "todays_hits": {
            "title": "Today's hits by topic",
            "description": "Every hit stored since the start of today, grouped by topic (rule), newest first.",
            "sql": "SELECT h.rule AS topic, a.title, a.feed_name AS outlet, coalesce(a.canonical_url, a.url) AS url, "
                   "h.first_seen, CASE WHEN h.alert_message IS NOT NULL THEN 'alert' WHEN h.digest_message IS NOT "
                   "NULL THEN 'digest' ELSE 'pending' END AS sent_in, h.snippet, a.story "
                   "FROM hits h JOIN articles a ON a.id = h.article_id "
                   f"WHERE h.first_seen >= {today} ORDER BY h.rule, h.first_seen DESC, a.id DESC"},
        "stories": {
            "title": "Stories with their sources",
            "description": f"The {STORIES_LISTED} stories with hits most recently reported: the first headline, the "
                           "topics, and every outlet that carried it: its articles' outlets, then its copies'.",
            # the stories are picked first, by id alone: the columns are computed for those rows only
            "sql": "WITH recent AS (SELECT id FROM stories WHERE id IN (SELECT story FROM articles INDEXED BY "
                   "idx_articles_story WHERE id IN (SELECT article_id FROM hits)) "
                   f"ORDER BY last_seen DESC, id DESC LIMIT {STORIES_LISTED}) "
                   f"SELECT s.id AS story, {lead.format(column='title')} AS title, "
                   f"{lead.format(column='coalesce(canonical_url, url)')} AS url, "
                   "(SELECT group_concat(DISTINCT h.rule) FROM hits h JOIN articles a ON a.id = h.article_id "
                   f"WHERE a.story = s.id) AS topics, {outlets} AS outlets, {reports} AS reports, "
                   "s.first_seen, s.last_seen FROM stories s JOIN recent ON recent.id = s.id "
                   "ORDER BY s.last_seen DESC, s.id DESC"},
        "release_ledger": {
            "title": "Release ledger",
            "description": "Each story reporting a release of prisoners, newest first, with the facts its reports "
                           "gave: the number most reported, the earliest date, every name as written, the "
                           "destination most reported, the first broker named. (`news-monitor releases` also "
                           "folds the spellings of one name and a city into its country.)",
            "sql": f"SELECT s.id AS story, {lead.format(column='title')} AS title, "
                   f"{lead.format(column='coalesce(canonical_url, url)')} AS url, "
                   f"({facts.format(pick='$.number')} GROUP BY fact ORDER BY count(*) DESC, min(first_seen) "
                   "LIMIT 1) AS number, "
                   "(SELECT min(json_extract(release_facts, '$.date')) FROM articles WHERE story = s.id "
                   "AND release_facts IS NOT NULL) AS date, "
                   "(SELECT group_concat(DISTINCT n.value) FROM articles, json_each(articles.release_facts, "
                   "'$.names') n WHERE articles.story = s.id AND release_facts IS NOT NULL) AS names, "
                   f"({facts.format(pick='$.destination')} GROUP BY fact ORDER BY count(*) DESC, min(first_seen) "
                   "LIMIT 1) AS destination, "
                   f"({facts.format(pick='$.broker')} ORDER BY first_seen, id LIMIT 1) AS broker, "
                   f"{reports} AS reports, {outlets} AS outlets, s.first_seen FROM stories s "
                   "WHERE s.id IN (SELECT story FROM articles WHERE release_facts IS NOT NULL) "
                   "ORDER BY s.first_seen DESC, s.id DESC"},
        "feed_health": {
            "title": "Feed health",
            "description": "Every feed, the troubled first: disabled, then failing (errors in a row), with the "
                           "last error, since when it fails, and its items' problems in its last cycle.",
            "sql": "SELECT name, url, CASE WHEN disabled THEN 'disabled' WHEN errors > 0 THEN 'failing' "
                   "ELSE 'ok' END AS state, errors AS errors_in_a_row, failing_since, last_error, disabled_reason, "
                   "last_ok, last_checked, next_check, problems, problems_at FROM feeds "
                   "ORDER BY disabled DESC, errors DESC, name"},
        "dead_deliveries": {
            "title": "Dead deliveries",
            "description": "Messages a channel gave up on (`news-monitor outbox retry` sends them again).",
            "sql": "SELECT d.message_id, m.kind, m.subject, d.channel, d.attempts, d.reason, d.last_error, "
                   "coalesce(d.queued, m.created) AS queued, m.created, d.reported AS reported_in "
                   "FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.status = 'dead' "
                   "ORDER BY m.created DESC, d.channel"},
    }
