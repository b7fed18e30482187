"""Deciding what a feed poll means, apart from doing it: conditional-GET validators (with a full
fetch now and then), unchanged bodies, backoff with jitter, Retry-After, moved and gone feeds.

Pure: takes the feed's stored state, what the fetch saw, and `now`; returns a PollDecision.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache

MAX_BACKOFF = timedelta(hours=6)
FULL_FETCH_EVERY = timedelta(days=1)  # some servers lie about 304: fetch unconditionally daily
MAX_RETRY_AFTER = timedelta(days=1)  # a server may not park a feed longer than this


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of a feed between polls."""

    url: str  # the configured URL: the feed's identity
    name: str
    fetch_url: str  # where it is fetched now (differs after a permanent redirect)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_full_fetch: str | None = None  # ISO UTC
    errors: int = 0
    next_check: str | None = None
    full_items: int | None = None  # items at its last complete parse


@dataclass(frozen=True)
class Seen:
    """What one fetch of the feed saw."""

    status: int | None  # None when no HTTP answer came (DNS, connect, deadline, refused address)
    error: str | None = None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: str | None = None
    moved_to: str | None = None  # the end of a 301/308 chain


@dataclass(frozen=True)
class PollDecision:
    ok: bool
    next_check: datetime
    parse: bool = False  # a new body to parse
    error: str | None = None
    disable: str | None = None  # why the feed is disabled (410 Gone)
    moved_to: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    full_fetch: bool = False


def validators(state: FeedState, now: datetime) -> tuple[str | None, str | None]:
    """(ETag, Last-Modified) to send, or (None, None) when a full fetch is due."""
    if full_fetch_due(state, now):
        return None, None
    return state.etag, state.last_modified


def full_fetch_due(state: FeedState, now: datetime) -> bool:
    if not state.last_full_fetch:
        return True
    return now - _moment(state.last_full_fetch) >= FULL_FETCH_EVERY


@lru_cache(maxsize=4096)
def _moment(stored: str) -> datetime:
    """A stored ISO time (the feeds of a batch were fully fetched in the same few seconds: read each once)."""
    return datetime.fromisoformat(stored.replace("Z", "+00:00"))


def body_hash(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def decide(state: FeedState, interval: int, seen: Seen, now: datetime,
           rng: random.Random | None = None) -> PollDecision:
    """The meaning of one poll: when to look next, whether to parse, what to remember and report."""
    rng = rng or random
    regular = now + timedelta(seconds=interval)
    if seen.status == 410:
        return PollDecision(ok=False, next_check=now + MAX_BACKOFF, error="HTTP 410 Gone: the feed was removed",
                            disable="HTTP 410 Gone")
    if seen.error is not None or seen.status is None or seen.status >= 400:
        wait = backoff(interval, state.errors + 1, rng)
        honoured = retry_after(seen.retry_after, now) if seen.status in (429, 503) else None
        if honoured is not None:
            wait = max(wait, min(honoured, MAX_RETRY_AFTER))
        return PollDecision(ok=False, next_check=now + wait, error=seen.error or f"HTTP {seen.status}",
                            moved_to=seen.moved_to)
    if seen.status == 304:
        return not_modified(interval, now, seen.moved_to)
    digest = body_hash(seen.body or b"")  # servers that ignore validators: identical bytes skip parsing
    return PollDecision(ok=True, next_check=regular, parse=digest != state.body_hash, moved_to=seen.moved_to,
                        etag=seen.etag, last_modified=seen.last_modified, body_hash=digest,
                        full_fetch=validators(state, now) == (None, None))


def not_modified(interval: int, now: datetime, moved_to: str | None = None) -> PollDecision:
    """A 304: look again after the interval; nothing to parse, no validator changes (decide's own answer,
    which the poll stage asks directly for the commonest outcome of a cycle)."""
    return _unchanged(now + timedelta(seconds=interval), now.tzinfo, moved_to, False)


def same_body(state: FeedState, interval: int, body: bytes, etag: str | None, last_modified: str | None,
              moved_to: str | None, now: datetime) -> PollDecision | None:
    """A 200 that brought the bytes and validators the store holds for the feed (a server that ignores
    validators): decide's answer as the store must write it, `to_store(decide(...))`, without building the
    answer first; None for any other body, which takes decide's way."""
    if etag != state.etag or last_modified != state.last_modified or body_hash(body) != state.body_hash:
        return None
    return _unchanged(now + timedelta(seconds=interval), now.tzinfo, moved_to, validators(state, now) == (None, None))


# Decisions that leave nothing new to store are made once and shared (they are frozen): the feeds of a batch,
# decided at one moment with a few intervals, share a handful instead of each building its own. The zone is
# part of each key: equal moments in two zones are equal datetimes, but not the same decision.

@lru_cache(maxsize=256)
def _unchanged(next_check: datetime, zone: object, moved_to: str | None, full_fetch: bool) -> PollDecision:
    return PollDecision(ok=True, next_check=next_check, moved_to=moved_to, full_fetch=full_fetch)


def to_store(decision: PollDecision, state: FeedState) -> PollDecision:
    """The decision as the store must write it: validators and a body hash the store already holds for the feed
    are left out (the store keeps what it is given nothing for), so the polls of a cycle of identical bodies
    leave the same marks and are written together, not one statement each."""
    etag = None if decision.etag == state.etag else decision.etag
    modified = None if decision.last_modified == state.last_modified else decision.last_modified
    digest = None if decision.body_hash == state.body_hash else decision.body_hash
    if etag is decision.etag and modified is decision.last_modified and digest is decision.body_hash:
        return decision
    if (etag is None and modified is None and digest is None and decision.ok and not decision.parse
            and decision.error is None and decision.disable is None):  # identical bytes, known validators
        return _unchanged(decision.next_check, decision.next_check.tzinfo, decision.moved_to, decision.full_fetch)
    return PollDecision(ok=decision.ok, next_check=decision.next_check, parse=decision.parse, error=decision.error,
                        disable=decision.disable, moved_to=decision.moved_to, etag=etag, last_modified=modified,
                        body_hash=digest, full_fetch=decision.full_fetch)


SHRUNK_BELOW = 0.5  # a feed listing fewer than half the items of its last complete parse was cut short:
# feeds keep a window of N items, and a normal day moves that window without shrinking it by half


def cut_short(items: int, full_items: int | None) -> str | None:
    """Why a feed that parsed cleanly still looks cut short: far fewer items than its last complete parse."""
    if full_items and items < full_items * SHRUNK_BELOW:
        return f"{items} items where its last complete parse had {full_items}"
    return None


def backoff(base_seconds: int, errors: int, rng: random.Random | None = None) -> timedelta:
    """Exponential in the error count, from the feed's own interval, with jitter, capped at 6 h."""
    seconds = min(base_seconds * 2 ** max(0, errors - 1), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * (rng or random).uniform(0.8, 1.0))


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - now)
