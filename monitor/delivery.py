"""Delivery decisions, pure (data and an explicit `now` in, a decision out): what a failed send means
for a delivery or one of its recipients, when retrying ends, and which failures are permanent.

    pending ──accepted──▶ sent
    pending ──temporary failure──▶ retrying (still pending) after a backoff or the server's Retry-After
    pending ──permanent failure──▶ retrying once ──permanent again──▶ dead, with the reason
    pending/retrying ──not delivered within give_up_after──▶ dead
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor import polling

RETRY_BASE_SECONDS = 60  # the first retry a minute later, then doubling up to polling's 6 h cap
# queued this long and still not delivered: late enough that `status` and the digest say so (an alert
# is the one message that should arrive in minutes)
STALE_AFTER = timedelta(hours=1)
# a channel down without a Retry-After (refused, timed out, 5xx) takes no new message until its failed one is
# retried, but not longer than this: new alerts are not tried on a hung server at every round (each try could
# take the channel's timeout), nor held back for the hours a long backoff reaches once it answers again
DOWN_REST = timedelta(minutes=5)
# the longest a server's Retry-After holds a channel: one absurd header must not silence it for days
MAX_HOLD = timedelta(hours=6)

PENDING, SENT, DEAD = "pending", "sent", "dead"
TEMPORARY, PERMANENT = "temporary", "permanent"


@dataclass(frozen=True)
class Outcome:
    """What becomes of a delivery (or one email recipient) after a failed try."""

    status: str  # PENDING (to be retried at `next_attempt`) or DEAD
    failure: str  # TEMPORARY or PERMANENT: a second permanent failure in a row is final
    error: str
    next_attempt: datetime | None = None


def after_failure(error: str, *, permanent: bool, previous: str | None, attempts: int, queued: datetime,
                  now: datetime, give_up_after: timedelta, retry_after: timedelta | None = None,
                  rng: random.Random | None = None) -> Outcome:
    """A permanent refusal is retried once (a webhook being re-created, a mailbox over quota that the
    server calls permanent) and is final the second time; a temporary one is retried with backoff,
    or when the server said (Retry-After), until `give_up_after` has passed since it was queued."""
    failure = PERMANENT if permanent else TEMPORARY
    if permanent and previous == PERMANENT:
        return Outcome(DEAD, failure, f"{error} (refused again on retry: permanent)")
    give_up = queued + give_up_after
    if now >= give_up:
        return Outcome(DEAD, failure, f"{error} (gave up: not delivered within {span(give_up_after)})")
    wait = retry_after if retry_after is not None else polling.backoff(RETRY_BASE_SECONDS, max(1, attempts), rng)
    # never later than the give-up moment: the last try happens then, and a failure there is final
    return Outcome(PENDING, failure, error, min(now + wait, give_up))


def rest(now: datetime, retry_after: timedelta | None, next_attempt: datetime | None) -> datetime | None:
    """Until when a channel that is down or rate-limited gets nothing, new messages included; None: no hold."""
    if retry_after is not None:
        return now + min(retry_after, MAX_HOLD)
    if next_attempt is None:  # the failed message is dead: the next one may go at once
        return None
    return min(next_attempt, now + DOWN_REST)


def expired(queued: datetime, now: datetime, give_up_after: timedelta) -> bool:
    return now >= queued + give_up_after


def given_up(last_error: str | None, give_up_after: timedelta) -> str:
    last = f"; last error: {last_error}" if last_error else ""
    return f"gave up: not delivered within {span(give_up_after)}{last}"


def settle(recipients: Mapping[str, Mapping]) -> tuple[str, str | None]:
    """A mail's delivery from its recipients' states: pending while any is still to be tried, dead when
    one was refused for good and none is pending, sent when all were accepted. Returns (status, error)."""
    states = {addr: r.get("status", PENDING) for addr, r in recipients.items()}
    failed = [f"{addr}: {r.get('error')}" for addr, r in recipients.items() if states[addr] != SENT]
    if any(s == PENDING for s in states.values()):
        return PENDING, "; ".join(failed) or None
    if any(s == DEAD for s in states.values()):
        sent = [addr for addr, s in states.items() if s == SENT]
        return DEAD, "; ".join(failed) + (f" (delivered to {', '.join(sent)})" if sent else "")
    return SENT, None


def webhook_failure(status: int) -> tuple[bool, bool]:
    """(permanent, channel_down) for a webhook's HTTP status: 429, 408 and 5xx are the channel being
    busy or down (retry, and send it nothing more this round); 400/401/403/404/410 and other answers
    say this webhook will not take the message (Slack: invalid_payload, no_service, channel_is_archived)."""
    if status in (408, 429) or status >= 500:
        return False, True
    return True, False


def smtp_permanent(code: int) -> bool:
    """SMTP reply classes: 4xx is try again later, 5xx is a refusal."""
    return code >= 500


def state(row: Mapping) -> str:
    """What a delivery row is, as `status` and `outbox` show it: sent, pending (not tried yet),
    sending (an attempt began and did not finish: the process died mid-send, or is sending now),
    retrying (failed, to be tried again), dead."""
    if row["status"] != PENDING:
        return row["status"]
    if row.get("attempt_started"):
        return "sending"
    return "retrying" if row.get("attempts") else PENDING


def stale(row: Mapping, now: datetime) -> bool:
    queued = row.get("queued") or row.get("created")
    return row["status"] == PENDING and bool(queued) and now - _parse(queued) >= STALE_AFTER


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
