"""The database schema as an append-only list of migrations; each runs once and is recorded.

Never edit a migration that has shipped: add a new one at the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlite_utils import Database

log = logging.getLogger(__name__)
PROGRESS_EVERY = 10  # seconds between the back-fill's progress lines


def _001_initial(db: Database) -> None:
    db["feeds"].create({
        "url": str, "name": str, "etag": str, "last_modified": str, "next_check": str,
        "last_checked": str, "last_ok": str, "last_error": str, "errors": int, "disabled": int,
    }, pk="url", defaults={"errors": 0, "disabled": 0})
    db["articles"].create({
        "id": int, "guid_key": str, "url_key": str, "guid": str, "url": str, "canonical_url": str,
        "feed_url": str, "feed_name": str, "title": str, "summary": str, "text": str,
        "text_source": str, "text_note": str, "language": str, "published": str, "first_seen": str,
        "story": str,
    }, pk="id", not_null={"first_seen"})
    db["articles"].create_index(["guid_key"], unique=True)
    db["articles"].create_index(["url_key"], unique=True)
    db["articles"].create_index(["first_seen"])
    db["hits"].create({
        "id": int, "article_id": int, "rule": str, "evidence": str, "snippet": str, "why": str,
        "alert": int, "first_seen": str, "alert_message": str, "digest_message": str,
    }, pk="id", foreign_keys=[("article_id", "articles", "id")], not_null={"article_id", "rule"})
    db["hits"].create_index(["article_id", "rule"], unique=True)
    db["hits"].create_index(["digest_message"])
    db["messages"].create({
        "id": str, "kind": str, "created": str, "subject": str, "text": str, "html": str, "json": str,
    }, pk="id")
    db["deliveries"].create({
        "message_id": str, "channel": str, "status": str, "attempts": int, "last_error": str,
        "sent_at": str, "next_attempt": str,
    }, pk=("message_id", "channel"), foreign_keys=[("message_id", "messages", "id")],
        defaults={"attempts": 0, "status": "pending"})


def _002_feed_health(db: Database) -> None:
    """Polling state: where a moved feed is fetched now, the last body's hash, the last full fetch,
    when it started failing, and why it was disabled."""
    db["feeds"].add_column("fetch_url", str)
    db["feeds"].add_column("body_hash", str)
    db["feeds"].add_column("last_full_fetch", str)
    db["feeds"].add_column("failing_since", str)
    db["feeds"].add_column("disabled_reason", str)
    db["feeds"].add_column("last_status", int)


def _003_hit_words(db: Database) -> None:
    """The matched words of each hit, as they appear in the article (JSON list), for digests."""
    db["hits"].add_column("words", str)


def _004_stories(db: Database) -> None:
    """Stories and their memory: per article its SimHash, story features, release facts and the hash of
    its feed entry (to notice updates); other sources of an article (syndicated copies); stories with
    the rules they already alerted for; and the suppression log of what was folded and why."""
    for column, kind in (("fingerprint", int), ("story_features", str), ("release_facts", str),
                         ("item_hash", str), ("updated", str), ("updates", int)):
        db["articles"].add_column(column, kind)
    db["articles"].create_index(["story"])
    db["sources"].create({
        "id": int, "article_id": int, "url": str, "url_key": str, "guid_key": str, "feed_url": str,
        "feed_name": str, "title": str, "first_seen": str, "reason": str,
    }, pk="id", foreign_keys=[("article_id", "articles", "id")], not_null={"article_id"})
    db["sources"].create_index(["url_key"], unique=True)
    db["sources"].create_index(["guid_key"], unique=True)
    db["sources"].create_index(["article_id"])
    db["stories"].create({
        "id": str, "first_seen": str, "last_seen": str, "articles": int, "alerted_rules": str,
        "announced": str,
    }, pk="id", defaults={"articles": 0, "alerted_rules": "[]"})
    db["suppressions"].create({
        "id": int, "at": str, "kind": str, "article_id": int, "story": str, "url": str, "reason": str,
        "digest_message": str,
    }, pk="id")
    db["suppressions"].create_index(["digest_message"])


def _005_page_checked(db: Database) -> None:
    """When an article's page was last fetched again to look for the publisher's edits."""
    db["articles"].add_column("page_checked", str)


def _006_outlets(db: Database) -> None:
    """The outlet's own site for an article or copy an aggregator carried (its <source url>), so messages show
    the outlet's domain beside a news.google.com link."""
    db["articles"].add_column("outlet_url", str)
    db["sources"].add_column("outlet_url", str)


def _007_feed_problems(db: Database) -> None:
    """Per feed: what went wrong with its items in its last cycle with items (a FeedProblems as JSON) and
    when; how many items its last complete parse had (a feed with far fewer is shown as cut short)."""
    db["feeds"].add_column("problems", str)
    db["feeds"].add_column("problems_at", str)
    db["feeds"].add_column("full_items", int)
def _009_delivery_states(db: Database) -> None:
    """Delivery states: when a delivery was queued (its give-up clock), the kind of its last failure
    (temporary or permanent), why it is dead, when its current attempt began (set before sending:
    a crash mid-send leaves it there), per-recipient results (JSON), the identifier receivers fold
    copies by (the email Message-ID), and the digest that reported it dead. Channels a server told
    to wait (Retry-After) are held until then."""
    for column in ("queued", "failure", "reason", "attempt_started", "recipients", "ref", "reported"):
        db["deliveries"].add_column(column, str)
    db["channel_holds"].create({"channel": str, "until": str, "reason": str}, pk="channel")


def _008_backlog(db: Database) -> None:
    """Items over a feed's per-cycle limits, waiting for the next cycle: one row per item, keyed like the
    article it will become (its URL key, else its GUID key); the item itself as JSON."""
    db["backlog"].create({"key": str, "feed_url": str, "item": str, "held_at": str}, pk="key")
    db["backlog"].create_index(["feed_url"])


def _010_health(db: Database) -> None:
    """The service's own health: one heartbeat row per job (poll, digest, service start) rewritten by each run
    — when it began and ended, how long it took, its counts — so `status` can say whether the monitor is
    alive; and per scheduled job the last slot it ran for, so a restart neither skips nor repeats a digest."""
    db["heartbeats"].create({"job": str, "started": str, "finished": str, "seconds": float, "counts": str,
                             "pid": int}, pk="job")
    db["schedule"].create({"job": str, "slot": str, "ran": str}, pk="job")


def _011_fingerprint_index(db: Database) -> None:
    """A narrow covering index of the articles' fingerprints: the copy index loads from it (~20 bytes a row)
    instead of walking the articles table and its texts (100,000 articles: 0.2 s instead of 4 s)."""
    db.execute("CREATE INDEX IF NOT EXISTS articles_fingerprints ON articles (id, fingerprint) "
               "WHERE fingerprint IS NOT NULL")


def _012_search(db: Database) -> None:
    """Full-text search of every stored article (`news-monitor search`): an FTS5 index keyed by the article's
    id of its title, text (with the feed's summary) and outlet as the rules' folded tokens (monitor.search),
    filled here for an existing database and kept in step by triggers (see _search_index). Written first
    with an FTS5 table that also stored the folded text; 014 turned that into the contentless index, and
    a database new to both builds the contentless one here, once."""
    _search_index(db)


def _013_read_indexes(db: Database) -> None:
    """Indexes for the read commands at a million articles: the hits of a window (`hits --since`, the Atom
    feed) found by when they were first seen; and the release facts with their stories, in story order, in a
    partial index holding only the articles that report a release (a few in a thousand), so the release ledger
    and `releases` read them without touching the articles' rows (where the facts sit after the text)."""
    db.execute("CREATE INDEX IF NOT EXISTS hits_first_seen ON hits (first_seen)")
    db.execute("CREATE INDEX IF NOT EXISTS articles_release_facts ON articles (story, first_seen, release_facts) "
               "WHERE release_facts IS NOT NULL")


def _014_search_contentless(db: Database) -> None:
    """The search index without its own copy of the text: 012's first form stored every article's folded
    text in FTS5 (its `_content` table: the text twice in the database, 845 MiB per 100,000 articles for
    the index in all). A database built by that form gets the contentless index, rebuilt from the articles."""
    if "article_search_content" not in db.table_names():
        return  # built contentless by 012 already
    db.execute("DROP TRIGGER IF EXISTS article_search_delete")
    db.execute("DROP TABLE article_search")
    _search_index(db)


SEARCH_FOLD = "news_monitor_searchable"  # monitor.search.searchable, registered on each Store connection
_FOLDED = (f"{SEARCH_FOLD}({{row}}.title), {SEARCH_FOLD}({{row}}.text, {{row}}.summary), "
           f"{SEARCH_FOLD}({{row}}.feed_name)")
BACKFILL_CHUNK = 20_000  # articles per statement of the back-fill: a progress line between them


def _search_index(db: Database) -> None:
    """The contentless FTS5 table `article_search` (content=''): only the index of the folded tokens, no copy
    of them; results are read from `articles` by rowid. Triggers keep it in step with every write to an
    article, in the writer's transaction: insert; an update of the title, text, summary or outlet; a delete
    (retention). SQLite 3.40 has no contentless-delete (3.43), so an entry leaves by FTS5's 'delete' command,
    which takes the values that were indexed: the triggers fold the old row again (the folding must stay
    what it was when the entry was written; a change to monitor.text's folding needs a migration that
    rebuilds the index). The fold is a Python function each Store connection registers; a connection without
    it cannot write articles ('no such function'), so nothing writes an article past the index."""
    db.execute("CREATE VIRTUAL TABLE article_search USING fts5(title, body, outlet, tokenize = 'ascii', "
               "content = '')")
    insert = (f"INSERT INTO article_search (rowid, title, body, outlet) VALUES (new.id, "
              f"{_FOLDED.format(row='new')});")
    delete = (f"INSERT INTO article_search (article_search, rowid, title, body, outlet) VALUES ('delete', old.id, "
              f"{_FOLDED.format(row='old')});")
    db.execute(f"CREATE TRIGGER article_search_insert AFTER INSERT ON articles BEGIN {insert} END")
    db.execute("CREATE TRIGGER article_search_update AFTER UPDATE OF title, text, summary, feed_name ON articles "
               "WHEN old.title IS NOT new.title OR old.text IS NOT new.text OR old.summary IS NOT new.summary "
               f"OR old.feed_name IS NOT new.feed_name BEGIN {delete} {insert} END")
    db.execute(f"CREATE TRIGGER article_search_delete AFTER DELETE ON articles BEGIN {delete} END")
    # The back-fill: SQL reads, folds and indexes, in the migration's one transaction, a chunk of ids at a time
    # so a large database shows its progress.
    total, top = db.execute("SELECT count(*), coalesce(max(id), 0) FROM articles").fetchone()
    done, started, said = 0, time.monotonic(), time.monotonic()
    for start in range(0, top, BACKFILL_CHUNK):
        done += db.execute(f"INSERT INTO article_search (rowid, title, body, outlet) SELECT id, "
                           f"{_FOLDED.format(row='articles')} FROM articles WHERE id > ? AND id <= ?",
                           [start, start + BACKFILL_CHUNK]).rowcount
        if time.monotonic() - said >= PROGRESS_EVERY:
            said = time.monotonic()
            log.info("search index: %s of %s articles indexed (%.0f s)", f"{done:,}", f"{total:,}",
                     said - started)
    if total >= BACKFILL_CHUNK:
        log.info("search index: %s articles indexed in %.0f s", f"{done:,}", time.monotonic() - started)


def _015_copy_index(db: Database) -> None:
    """The copy index kept as a snapshot (its arrays as blobs, monitor.decide.copies), so a process loads it
    without scanning every article's fingerprint and sorting them; and the articles whose fingerprint
    changed, that were deleted or whose id was reused since it was taken, noted by triggers: whatever writes
    the articles table (an update, retention), the snapshot plus what came after it is what a rebuild gives."""
    db.execute("CREATE TABLE IF NOT EXISTS copy_index (part TEXT PRIMARY KEY, data BLOB NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS copy_index_changes (article_id INTEGER PRIMARY KEY)")
    db.execute("CREATE TRIGGER IF NOT EXISTS copy_index_deleted AFTER DELETE ON articles "
               "WHEN old.fingerprint IS NOT NULL "
               "BEGIN INSERT OR IGNORE INTO copy_index_changes (article_id) VALUES (old.id); END")
    db.execute("CREATE TRIGGER IF NOT EXISTS copy_index_refingerprinted AFTER UPDATE OF fingerprint ON articles "
               "WHEN old.fingerprint IS NOT new.fingerprint "
               "BEGIN INSERT OR IGNORE INTO copy_index_changes (article_id) VALUES (new.id); END")
    # SQLite may give a new article the id of a deleted one at or below the snapshot's last id: noted too
    db.execute("CREATE TRIGGER IF NOT EXISTS copy_index_reused AFTER INSERT ON articles "
               "WHEN new.id <= (SELECT CAST(data AS INTEGER) FROM copy_index WHERE part = 'upto') "
               "BEGIN INSERT OR IGNORE INTO copy_index_changes (article_id) VALUES (new.id); END")


def _016_story_index(db: Database) -> None:
    """The story index kept as a snapshot (monitor.decide.stories: arrays as blobs, a line per story) with the
    window it was built for and the last article id it has seen; and the articles at or below that id whose
    part in it changed since (their features, story, first date or release facts; a hit added or removed; the
    row deleted, or its id reused), noted by triggers with the latest first date the change touches (a release
    report's: its story's newest article's, as the release facts bring the whole story in): a process loads the
    snapshot and the articles stored after it, and rebuilds when a noted change falls inside the window.
    The release reports by id (which came after the snapshot: an index range, not every release report). Also
    what every cycle asks for, indexed (not every row read for the few): the hits waiting for an alert (a scan
    of every hit cost 30 ms at 100,000 stored articles, 0.3 s at 1,000,000) and the pending deliveries (every
    message's are kept until retention drops the message)."""
    db.execute("CREATE INDEX IF NOT EXISTS articles_release_ids ON articles (id) WHERE release_facts IS NOT NULL")
    db.execute("CREATE INDEX IF NOT EXISTS hits_alert_pending ON hits (id) WHERE alert = 1 AND alert_message IS NULL")
    db.execute("CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (channel) WHERE status = 'pending'")
    db.execute("CREATE TABLE IF NOT EXISTS story_index (part TEXT PRIMARY KEY, data BLOB NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS story_index_changes (article_id INTEGER PRIMARY KEY, first_seen TEXT)")
    kept = "(SELECT CAST(data AS INTEGER) FROM story_index WHERE part = 'upto')"

    def note(article_id: str, first_seen: str) -> str:
        """Note the article with the latest first date (NULL: unknown, always inside) of its changes."""
        return (f"INSERT INTO story_index_changes (article_id, first_seen) VALUES ({article_id}, {first_seen}) "
                "ON CONFLICT (article_id) DO UPDATE SET first_seen = CASE WHEN first_seen IS NULL OR "
                "excluded.first_seen IS NULL THEN NULL ELSE max(first_seen, excluded.first_seen) END;")

    def story_newest(*stories: str) -> str:
        return f"(SELECT max(first_seen) FROM articles WHERE story IN ({', '.join(stories)}))"

    with_hits = "EXISTS (SELECT 1 FROM hits WHERE article_id = {}.id)"
    db.execute("CREATE TRIGGER IF NOT EXISTS story_index_article_changed AFTER UPDATE OF story_features, story, "
               f"first_seen, release_facts ON articles WHEN old.id <= {kept} AND (old.release_facts IS NOT "
               "new.release_facts OR ((old.story_features IS NOT new.story_features OR old.story IS NOT new.story "
               "OR old.first_seen IS NOT new.first_seen) AND (new.release_facts IS NOT NULL OR "
               f"{with_hits.format('old')}))) BEGIN "
               + note("old.id", "CASE WHEN old.release_facts IS NULL AND new.release_facts IS NULL THEN "
                      f"max(old.first_seen, new.first_seen) ELSE {story_newest('old.story', 'new.story')} END")
               + " END")
    db.execute("CREATE TRIGGER IF NOT EXISTS story_index_article_deleted AFTER DELETE ON articles "
               f"WHEN old.id <= {kept} AND (old.release_facts IS NOT NULL OR {with_hits.format('old')}) BEGIN "
               + note("old.id", "CASE WHEN old.release_facts IS NULL THEN old.first_seen ELSE "
                      f"coalesce({story_newest('old.story')}, old.first_seen) END") + " END")
    # SQLite may give a new article the id of a deleted one at or below the snapshot's last id: noted too
    db.execute("CREATE TRIGGER IF NOT EXISTS story_index_article_reused AFTER INSERT ON articles "
               f"WHEN new.id <= {kept} AND new.release_facts IS NOT NULL BEGIN "
               + note("new.id", f"coalesce({story_newest('new.story')}, new.first_seen)") + " END")
    first_seen = "(SELECT first_seen FROM articles WHERE id = {}.article_id)"
    for event, row, name in (("INSERT", "new", "inserted"), ("DELETE", "old", "deleted")):
        db.execute(f"CREATE TRIGGER IF NOT EXISTS story_index_hit_{name} AFTER {event} ON hits "
                   f"WHEN {row}.article_id <= {kept} BEGIN "
                   + note(f"{row}.article_id", first_seen.format(row)) + " END")
    db.execute("CREATE TRIGGER IF NOT EXISTS story_index_hit_moved AFTER UPDATE OF article_id, rule ON hits "
               f"WHEN old.article_id <= {kept} OR new.article_id <= {kept} BEGIN "
               + note("old.article_id", first_seen.format("old")) + " "
               + note("new.article_id", first_seen.format("new")) + " END")


# The release ledger's row of one story, as the read summed it before migration 017 (a join of the stories
# with release reports to `stories`): `simple` when one article reports the release and its count is plain (a
# number, or at most one name), then `people` is what it adds and `day` when it happened (its date, else the
# story's first day); the other stories are merged in Python (monitor.decide.merge.merged_facts).
# A facts column that is not JSON (only a bug could write one) counts for nothing rather than failing the write.
LEDGER_ROWS = (
    "SELECT r.story, s.first_seen, r.n = 1 AND (coalesce(r.num, 0) != 0 OR coalesce(r.names, 0) <= 1), "
    "CASE WHEN coalesce(r.num, 0) != 0 THEN r.num ELSE coalesce(r.names, 0) END, "
    "coalesce(nullif(r.date, ''), nullif(substr(s.first_seen, 1, 10), '')) "
    "FROM (SELECT story, count(*) AS n, json_extract(release_facts, '$.number') AS num, "
    "json_array_length(release_facts, '$.names') AS names, json_extract(release_facts, '$.date') AS date "
    "FROM articles WHERE release_facts IS NOT NULL AND json_valid(release_facts) {story} GROUP BY story) r "
    "JOIN stories s ON s.id = r.story")


def _ledger_refresh(story: str) -> str:
    """The statements, for a trigger, that write the ledger row of the story `story` (an expression) anew."""
    return (f"DELETE FROM release_ledger WHERE story = {story}; INSERT INTO release_ledger (story, first_seen, "
            f"simple, people, day) {LEDGER_ROWS.format(story=f'AND story = {story}')};")


def _017_release_ledger(db: Database) -> None:
    """The release ledger kept per story (`release_ledger`, one narrow row per story with a release report), so
    the digest sums it without grouping every release report and joining each story for its first day: that
    read cost 0.33 s at a million articles (176,810 release stories), this one a few milliseconds. Triggers
    rewrite a story's row whenever anything changes what the row is made of (an article's facts or story; a
    story's id or first date; an insert or delete of either), in the writer's transaction, so the table is
    always what the join would give (tests/test_read_queries.py compares them). Columns without a type keep
    each value as the join gave it."""
    db.execute("CREATE TABLE release_ledger (story TEXT PRIMARY KEY, first_seen, simple, people, day) WITHOUT ROWID")
    db.execute("CREATE INDEX release_ledger_totals ON release_ledger (simple, day, people)")
    db.execute("CREATE TRIGGER release_ledger_article_added AFTER INSERT ON articles "
               f"WHEN new.release_facts IS NOT NULL AND new.story IS NOT NULL BEGIN {_ledger_refresh('new.story')} END")
    db.execute("CREATE TRIGGER release_ledger_article_changed AFTER UPDATE OF story, release_facts ON articles "
               "WHEN (old.story IS NOT new.story OR old.release_facts IS NOT new.release_facts) "
               "AND (old.release_facts IS NOT NULL OR new.release_facts IS NOT NULL) "
               f"BEGIN {_ledger_refresh('old.story')} {_ledger_refresh('new.story')} END")
    db.execute("CREATE TRIGGER release_ledger_article_deleted AFTER DELETE ON articles "
               f"WHEN old.release_facts IS NOT NULL BEGIN {_ledger_refresh('old.story')} END")
    db.execute("CREATE TRIGGER release_ledger_story_added AFTER INSERT ON stories "
               f"BEGIN {_ledger_refresh('new.id')} END")
    db.execute("CREATE TRIGGER release_ledger_story_changed AFTER UPDATE OF id, first_seen ON stories "
               "WHEN old.id IS NOT new.id OR old.first_seen IS NOT new.first_seen "
               f"BEGIN {_ledger_refresh('old.id')} {_ledger_refresh('new.id')} END")
    db.execute("CREATE TRIGGER release_ledger_story_deleted AFTER DELETE ON stories "
               f"BEGIN {_ledger_refresh('old.id')} END")
    db.execute(f"INSERT INTO release_ledger (story, first_seen, simple, people, day) {LEDGER_ROWS.format(story='')}")


SEARCH_PENDING = "article_search_pending"
# the articles written in this transaction, folded as they were written, indexed when it commits (Store)
INDEX_PENDING = (f"INSERT INTO article_search (rowid, title, body, outlet) SELECT id, title, body, outlet "
                 f"FROM {SEARCH_PENDING}")


def _018_search_batched(db: Database) -> None:
    """The search index fed once per write transaction instead of once per article: FTS5 writes out what it holds
    in memory at every savepoint, and the pipeline stores each article of a batch in a savepoint of its own, so
    each article became a segment of its own, merged again and again (0.2 ms of CPU per article). Now the insert
    trigger folds the new article's columns into `article_search_pending` (at once, while the matcher's
    tokens of its text are still at hand: monitor.text.tokens keeps the last few) and Store indexes the noted
    rows in one statement before the transaction commits: the same entries, as the index holds a row's folded
    tokens whenever it was written. An article updated while still noted gets its note refolded; one deleted
    while noted loses its note: FTS5's 'delete' must only ever be given what was indexed."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {SEARCH_PENDING} (id INTEGER PRIMARY KEY, title TEXT, body TEXT, "
               "outlet TEXT)")
    for name in ("article_search_insert", "article_search_update", "article_search_delete"):
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    indexed = f"NOT EXISTS (SELECT 1 FROM {SEARCH_PENDING} WHERE id = old.id)"
    delete = (f"INSERT INTO article_search (article_search, rowid, title, body, outlet) SELECT 'delete', old.id, "
              f"{_FOLDED.format(row='old')} WHERE {indexed};")
    insert = (f"INSERT INTO article_search (rowid, title, body, outlet) SELECT new.id, {_FOLDED.format(row='new')} "
              f"WHERE {indexed};")
    refold = f"UPDATE {SEARCH_PENDING} SET (title, body, outlet) = ({_FOLDED.format(row='new')}) WHERE id = new.id;"
    db.execute(f"CREATE TRIGGER article_search_insert AFTER INSERT ON articles BEGIN INSERT OR REPLACE INTO "
               f"{SEARCH_PENDING} (id, title, body, outlet) VALUES (new.id, {_FOLDED.format(row='new')}); END")
    db.execute("CREATE TRIGGER article_search_update AFTER UPDATE OF title, text, summary, feed_name ON articles "
               "WHEN old.title IS NOT new.title OR old.text IS NOT new.text OR old.summary IS NOT new.summary "
               f"OR old.feed_name IS NOT new.feed_name BEGIN {delete} {insert} {refold} END")
    db.execute(f"CREATE TRIGGER article_search_delete AFTER DELETE ON articles "
               f"BEGIN {delete} DELETE FROM {SEARCH_PENDING} WHERE id = old.id; END")


RETENTION_BELOW = "(SELECT max(upto) FROM retention_marks)"  # an article first seen before it is behind a mark


def _019_retention_marks(db: Database) -> None:
    """How far retention has gone, so a prune reads the articles that aged past its cutoffs since the last one,
    not every old article (1,000,000 stored: 4-5 s each time, however little was left to drop). Per part
    ('texts', 'articles'), `retention_marks.upto`: every article first seen before it that retention could drop
    had its text dropped, or was deleted, by a prune (Store.prune sets it). What can make an article behind a
    mark droppable again is noted by triggers in `retention_changes`, in the writer's transaction: it gets text
    back; it, or an article of its story, loses a hit or its release facts, moves to another story, changes
    its first date or is deleted; an article is stored with a first date behind a mark (an id reused, a clock
    set back). The next prune reads those beside the new range. With no mark (a store migrated from before
    this, or a part not pruned last time) a prune reads every article older than its cutoff, as before."""
    db.execute("CREATE TABLE IF NOT EXISTS retention_marks (part TEXT PRIMARY KEY, upto TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS retention_changes (article_id INTEGER PRIMARY KEY)")
    marked = "EXISTS (SELECT 1 FROM retention_marks)"

    def note(article: str) -> str:
        return (f"INSERT OR IGNORE INTO retention_changes (article_id) SELECT id FROM articles WHERE id = {article} "
                f"AND first_seen < {RETENTION_BELOW};")

    def note_story(story: str) -> str:
        """Every article of the story behind a mark: one of them held the story (a hit, release facts)."""
        return (f"INSERT OR IGNORE INTO retention_changes (article_id) SELECT id FROM articles INDEXED BY "
                f"idx_articles_story WHERE story = {story} AND first_seen < {RETENTION_BELOW};")

    story_of = "(SELECT story FROM articles WHERE id = {})"
    for event, row, name in (("DELETE", "old", "hit_deleted"), ("UPDATE OF article_id", "old", "hit_moved")):
        db.execute(f"CREATE TRIGGER IF NOT EXISTS retention_{name} AFTER {event} ON hits WHEN {marked} BEGIN "
                   f"{note(f'{row}.article_id')} {note_story(story_of.format(f'{row}.article_id'))} END")
    db.execute("CREATE TRIGGER IF NOT EXISTS retention_article_changed AFTER UPDATE OF story, release_facts, "
               "first_seen ON articles WHEN (old.story IS NOT new.story OR old.release_facts IS NOT new.release_facts "
               f"OR old.first_seen IS NOT new.first_seen) AND {marked} AND (old.story IS NOT NULL OR new.first_seen < "
               f"{RETENTION_BELOW}) BEGIN {note('new.id')} {note_story('old.story')} END")  # not a new one's story
    db.execute("CREATE TRIGGER IF NOT EXISTS retention_text_back AFTER UPDATE OF text, summary ON articles "
               "WHEN old.text IS NULL AND old.summary IS NULL AND (new.text IS NOT NULL OR new.summary IS NOT NULL) "
               f"AND new.first_seen < {RETENTION_BELOW} BEGIN {note('new.id')} END")
    db.execute("CREATE TRIGGER IF NOT EXISTS retention_article_added AFTER INSERT ON articles "
               f"WHEN new.first_seen < {RETENTION_BELOW} BEGIN {note('new.id')} END")
    db.execute("CREATE TRIGGER IF NOT EXISTS retention_article_deleted AFTER DELETE ON articles "
               f"WHEN old.story IS NOT NULL AND {marked} AND (old.release_facts IS NOT NULL OR EXISTS "
               f"(SELECT 1 FROM hits WHERE article_id = old.id)) BEGIN {note_story('old.story')} END")


def _020_newest_first(db: Database) -> None:
    """What a cycle that stores articles reads, found without a walk of everything of its kind: the release
    ledger by first date (the Atom ledger's newest 200 release stories: sorting and counting every release
    story cost 0.48 s at a million articles) and the stories whose release facts are not JSON, which the
    ledger leaves out (none, unless a bug or a hand wrote them); and the kept story index's postings in rows
    of a few hundred entries (`story_postings`, id: key id << 20 + chunk), read a key's newest entries at a
    time instead of the whole index (~170 MB at a million articles) by every process that stores articles.
    The snapshot kept by 016 is dropped: the next such process rebuilds it in this form."""
    db.execute("CREATE INDEX IF NOT EXISTS release_ledger_newest ON release_ledger (first_seen, story)")
    db.execute("CREATE INDEX IF NOT EXISTS articles_release_unreadable ON articles (story) "
               "WHERE release_facts IS NOT NULL AND NOT json_valid(release_facts)")
    db.execute("CREATE TABLE IF NOT EXISTS story_postings (id INTEGER PRIMARY KEY, entries BLOB NOT NULL)")
    db.execute("DELETE FROM story_index")
    db.execute("DELETE FROM story_index_changes")


def _022_release_totals(db: Database) -> None:
    """The release ledger's plain totals kept in one row (`release_totals`: stories and people), so the digest
    reads them instead of summing every plain ledger row: the sum walked 176,810 index entries at a million
    articles (~30 ms, growing with the store). Triggers on the ledger add and take away each plain row as the
    ledger's own triggers write it, in the writer's transaction. `odd` counts plain rows whose people is not an
    integer (only facts written by hand or a bug): while there are any, the store sums the rows as before, so
    the totals are always exactly what the sum gives (tests/test_read_queries.py compares them)."""
    db.execute("CREATE TABLE IF NOT EXISTS release_totals (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "stories INTEGER NOT NULL, people INTEGER NOT NULL, odd INTEGER NOT NULL)")
    whole = "typeof({row}.people) = 'integer'"
    add = (f"UPDATE release_totals SET stories = stories + 1, people = people + CASE WHEN {whole.format(row='new')} "
           f"THEN new.people ELSE 0 END, odd = odd + NOT ({whole.format(row='new')});")
    drop = (f"UPDATE release_totals SET stories = stories - 1, people = people - CASE WHEN {whole.format(row='old')} "
            f"THEN old.people ELSE 0 END, odd = odd - NOT ({whole.format(row='old')});")
    db.execute(f"CREATE TRIGGER IF NOT EXISTS release_totals_added AFTER INSERT ON release_ledger "
               f"WHEN new.simple = 1 BEGIN {add} END")
    db.execute(f"CREATE TRIGGER IF NOT EXISTS release_totals_deleted AFTER DELETE ON release_ledger "
               f"WHEN old.simple = 1 BEGIN {drop} END")
    db.execute("CREATE TRIGGER IF NOT EXISTS release_totals_changed AFTER UPDATE OF simple, people ON release_ledger "
               f"WHEN old.simple = 1 OR new.simple = 1 BEGIN {drop[:-1]} WHERE old.simple = 1; "
               f"{add[:-1]} WHERE new.simple = 1; END")
    db.execute("DELETE FROM release_totals")
    db.execute(f"INSERT INTO release_totals (id, stories, people, odd) SELECT 1, count(*), "
               f"coalesce(sum(CASE WHEN {whole.format(row='release_ledger')} THEN people ELSE 0 END), 0), "
               f"coalesce(sum(NOT ({whole.format(row='release_ledger')})), 0) FROM release_ledger WHERE simple = 1")


MIGRATIONS: list[tuple[str, Callable[[Database], None]]] = [
    ("001_initial", _001_initial),
    ("002_feed_health", _002_feed_health),
    ("003_hit_words", _003_hit_words),
    ("004_stories", _004_stories),
    ("005_page_checked", _005_page_checked),
    ("006_outlets", _006_outlets),
    ("007_feed_problems", _007_feed_problems),
    ("008_backlog", _008_backlog),
    ("009_delivery_states", _009_delivery_states),
    ("010_health", _010_health),
    ("011_fingerprint_index", _011_fingerprint_index),
    ("012_search", _012_search),
    ("013_read_indexes", _013_read_indexes),
    ("014_search_contentless", _014_search_contentless),
    ("015_copy_index", _015_copy_index),
    ("016_story_index", _016_story_index),
    ("017_release_ledger", _017_release_ledger),
    ("018_search_batched", _018_search_batched),
    ("019_retention_marks", _019_retention_marks),
    ("020_newest_first", _020_newest_first),
    ("022_release_totals", _022_release_totals),
]
