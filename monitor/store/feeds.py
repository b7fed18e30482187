"""Feeds: their poll state and validators, each cycle's item counts and problems, the backlog of items
over a feed's per-cycle limits, and feed health."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta

from monitor.models import Feed, FeedItem, FeedProblems
from monitor.polling import FeedState, PollDecision
from monitor.store.common import _item_from_json, _item_json, iso


class FeedRows:
    """Feeds' rows: poll state, item counts and problems, the backlog over per-cycle limits, health.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

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
