"""Is the monitor healthy? From what the store and the lock say (heartbeats, feeds, deliveries) and the
config, one Health record for `status`, `status --json` and `status --check` (pure: takes an explicit now).

Unhealthy, for `--check` (the container's HEALTHCHECK): no process holds the lock; the last poll cycle
began or ended longer ago than `service.stale_after` (default three ticks: one slow tick is not an alarm,
three missed ones are); a delivery is dead; every enabled feed is failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.config import Config
from monitor.models import FeedProblems
from monitor.schedule import next_slot


def _moment(stored: str | None) -> datetime | None:
    return datetime.fromisoformat(stored.replace("Z", "+00:00")) if stored else None


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass(frozen=True)
class Snapshot:
    """What `status` read: the lock holder, the store's heartbeats, feed rows, delivery counts and more."""

    pid: int | None  # the lock holder, None when nobody holds it
    heartbeats: dict[str, dict]
    feeds: list[dict]  # Store.feed_health rows
    deliveries: dict[str, int]  # status -> count
    next_poll: str | None
    counts: dict[str, int]
    db_bytes: int
    rules: list[str] = field(default_factory=list)  # valid rule names
    rule_errors: str | None = None  # rule edits not applied


def feed_states(rows: list[dict], now: datetime) -> dict[str, int]:
    """Feeds by state: ok, partial (its last cycle had item problems), failing (of which backing off:
    waiting longer than usual before the next try), disabled, not polled yet."""
    out = {"total": len(rows), "ok": 0, "partial": 0, "failing": 0, "backing_off": 0, "disabled": 0,
           "not_polled": 0}
    cutoff = _iso(now)
    for row in rows:
        if row["disabled"]:
            out["disabled"] += 1
        elif row["errors"]:
            out["failing"] += 1
            out["backing_off"] += bool(row["next_check"] and row["next_check"] > cutoff)
        elif not row["last_ok"]:
            out["not_polled"] += 1
        elif (row["problems"] or FeedProblems()).any:
            out["partial"] += 1
        else:
            out["ok"] += 1
    return out


def assess(snap: Snapshot, config: Config, now: datetime) -> dict:
    """The health record (JSON-ready; times UTC ISO 8601) with `problems`: why `--check` fails, or []."""
    poll = snap.heartbeats.get("poll")
    service = snap.heartbeats.get("service")
    feeds = feed_states(snap.feeds, now)
    digest = config.digest
    upcoming = next_slot(now, digest.times, digest.timezone, digest.weekdays)
    problems = []
    if snap.pid is None:
        problems.append("the service is not running (no process holds the state directory's lock)")
    limit = config.service.stale_limit
    if poll is None:
        problems.append("no poll cycle recorded yet")
    else:
        last = max(filter(None, (_moment(poll["started"]), _moment(poll["finished"]))))
        age = (now - last).total_seconds()
        if age > limit:
            problems.append(f"the last poll cycle {'ended' if poll['finished'] else 'began'} {int(age)}s ago "
                            f"(limit {limit}s: service.stale_after)")
    dead = snap.deliveries.get("dead", 0)
    if dead:
        problems.append(f"{dead} deliver{'y is' if dead == 1 else 'ies are'} dead (see news-monitor status)")
    enabled = feeds["total"] - feeds["disabled"]
    if feeds["total"] and feeds["failing"] == enabled:
        problems.append(f"every feed is failing ({feeds['failing']} failing, {feeds['disabled']} disabled)")
    return {
        "healthy": not problems, "problems": problems,
        "running": None if snap.pid is None else {
            "pid": snap.pid or None,
            "since": service["started"] if service and service["pid"] == snap.pid else None},
        "last_cycle": None if poll is None else {
            "started": poll["started"], "finished": poll["finished"], "seconds": poll["seconds"],
            "counts": poll["counts"]},
        "last_digest": snap.heartbeats.get("digest") and {
            k: snap.heartbeats["digest"][k] for k in ("started", "finished", "seconds", "counts")},
        "next_poll": None if snap.next_poll is None else max(snap.next_poll or _iso(now), _iso(now)),
        "next_digest": _iso(upcoming), "timezone": digest.timezone, "stale_after": limit,
        "feeds": feeds,
        "deliveries": {"pending": snap.deliveries.get("pending", 0), "dead": dead,
                       "sent": snap.deliveries.get("sent", 0)},
        "rules": {"valid": snap.rules, "errors": snap.rule_errors},
        "database": {**snap.counts, "bytes": snap.db_bytes},
    }
