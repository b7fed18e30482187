"""The service's health and schedule: heartbeats, claimed digest slots, the next poll, delivery counts,
the database's size."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from monitor.store.common import _json, iso


class Health:
    """Heartbeats, claimed schedule slots, the next poll, and the sizes and counts `status` shows.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

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
