"""The resident indexes kept in the database: SimHash fingerprints (the copy index) and the story
index with its snapshot and postings."""

from __future__ import annotations

import json
import os
import sqlite3
from array import array
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.models import StoryMember, unsigned64
from monitor.store.common import _chunks, _moment, iso

# (the deciding modules are imported only by what writes articles or loads the indexes: the read
# commands don't, nor the rule language and the sentence patterns these bring)
if TYPE_CHECKING:
    from monitor.decide.copies import SimHashIndex
    from monitor.decide.stories import StoryIndex
    from monitor.store import Store


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


class IndexRows:
    """The copy and story indexes, kept in the database and loaded by each process.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

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
