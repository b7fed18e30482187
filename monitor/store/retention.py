"""Retention: what ages out (text, then whole articles) behind each part's mark, and reclaiming the space."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from monitor.store.common import iso


class Retention:
    """What ages out, dropped part by part behind marks; the space reclaimed.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

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
