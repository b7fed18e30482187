"""When digests are due: the wall-clock slots of `digest.at` / `digest.days` in the digest's time zone, as
UTC instants (pure; the service asks "which slot is the latest that has come?" and SQLite remembers which
one was sent, so a slot missed while the service was down is sent once at start and never twice).

Daylight saving time: a slot is a local date and time. A time that does not exist that day (clocks
jump forward over it) is sent at the same offset as before the jump, i.e. one hour later by the new
clock; a time that happens twice (clocks go back) is sent at its first occurrence only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SEARCH_DAYS = 8  # a weekly digest's previous or next slot is at most 7 days away


def slots(first: date, last: date, times: list[time], zone: str, weekdays: frozenset[int]) -> Iterator[datetime]:
    """Every slot on local dates first..last, as UTC datetimes, in order."""
    tz = ZoneInfo(zone)
    day = first
    while day <= last:
        if day.weekday() in weekdays:
            for at in times:
                yield datetime.combine(day, at, tzinfo=tz).astimezone(UTC)  # fold=0: see the docstring
        day += timedelta(days=1)


def last_slot(now: datetime, times: list[time], zone: str, weekdays: frozenset[int]) -> datetime | None:
    """The latest slot at or before `now` (None when there is none in the last week)."""
    today = now.astimezone(ZoneInfo(zone)).date()
    past = [s for s in slots(today - timedelta(days=SEARCH_DAYS), today + timedelta(days=1), times, zone, weekdays)
            if s <= now]
    return past[-1] if past else None


def next_slot(now: datetime, times: list[time], zone: str, weekdays: frozenset[int]) -> datetime | None:
    """The first slot after `now`."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return next((s for s in slots(today - timedelta(days=1), today + timedelta(days=SEARCH_DAYS), times, zone,
                                  weekdays) if s > now), None)
