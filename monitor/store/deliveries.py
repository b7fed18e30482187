"""Deliveries: what is due on each channel, attempts, sends per recipient, failures, holds, dead
letters, requeues and the problems a digest reports."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from monitor.models import Delivery
from monitor.store.common import _json, iso


class DeliveryRows:
    """Each channel's deliveries: due, attempted, sent per recipient, failed, held, dead, requeued.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

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
