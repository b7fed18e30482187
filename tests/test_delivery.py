"""The delivery decisions, pure and table-driven: what a failure means (retry when, or dead), the
end of retries, a mail's state from its recipients', and which answers are permanent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor import delivery

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def fail(permanent=False, previous=None, attempts=1, queued=NOW, retry_after=None, give_up=DAY):
    return delivery.after_failure("boom", permanent=permanent, previous=previous, attempts=attempts, queued=queued,
                                  now=NOW, give_up_after=give_up, retry_after=retry_after, rng=random.Random(1))


def test_a_temporary_failure_is_retried_with_a_growing_backoff():
    first, fifth = fail(attempts=1), fail(attempts=5)
    assert first.status == fifth.status == "pending" and first.failure == "temporary"
    assert timedelta(seconds=48) <= first.next_attempt - NOW <= timedelta(seconds=60)
    assert fifth.next_attempt - NOW > timedelta(minutes=12)


def test_a_permanent_failure_is_retried_once_then_dead_with_the_reason():
    once = fail(permanent=True)
    assert (once.status, once.failure) == ("pending", "permanent")
    twice = fail(permanent=True, previous="permanent")
    assert twice.status == "dead" and twice.next_attempt is None
    assert twice.error == "boom (refused again on retry: permanent)"
    # a temporary failure between two permanent ones starts the count again
    assert fail(permanent=True, previous="temporary").status == "pending"


@pytest.mark.parametrize("retry_after, next_attempt, held_until", [
    (timedelta(seconds=600), NOW + timedelta(seconds=50), NOW + timedelta(seconds=600)),  # the server's word
    (timedelta(days=30), NOW + timedelta(hours=1), NOW + timedelta(hours=6)),  # but not for days
    (None, NOW + timedelta(seconds=50), NOW + timedelta(seconds=50)),  # down: until the failed one's retry
    (None, NOW + timedelta(hours=3), NOW + timedelta(minutes=5)),  # a long backoff holds new alerts 5 min at most
    (None, None, None),  # the failed message is dead: nothing held
])
def test_how_long_a_channel_rests(retry_after, next_attempt, held_until):
    assert delivery.rest(NOW, retry_after, next_attempt) == held_until


def test_retry_after_is_the_wait_when_the_server_gives_one():
    assert fail(retry_after=timedelta(seconds=600)).next_attempt == NOW + timedelta(seconds=600)


@pytest.mark.parametrize("queued, status, next_attempt", [
    (NOW - DAY, "dead", None),  # queued a day ago: the end
    (NOW - DAY + timedelta(seconds=30), "pending", NOW + timedelta(seconds=30)),  # the last try at the end
])
def test_retries_end_after_give_up_after(queued, status, next_attempt):
    outcome = fail(queued=queued, retry_after=timedelta(hours=2))
    assert (outcome.status, outcome.next_attempt) == (status, next_attempt)
    if status == "dead":
        assert "gave up: not delivered within 1d" in outcome.error


@pytest.mark.parametrize("recipients, expected", [
    ({"a": {"status": "sent"}, "b": {"status": "sent"}}, ("sent", None)),
    ({"a": {"status": "sent"}, "b": {"status": "pending", "error": "451 later"}}, ("pending", "b: 451 later")),
    ({"a": {"status": "sent"}, "b": {"status": "dead", "error": "550 gone"}},
     ("dead", "b: 550 gone (delivered to a)")),
    ({"a": {"status": "dead", "error": "550 x"}, "b": {"status": "pending", "error": "451 y"}},
     ("pending", "a: 550 x; b: 451 y")),
])
def test_a_mail_is_what_its_recipients_add_up_to(recipients, expected):
    assert delivery.settle(recipients) == expected


@pytest.mark.parametrize("status, permanent, down", [
    (400, True, False), (401, True, False), (403, True, False), (404, True, False), (410, True, False),
    (408, False, True), (429, False, True), (500, False, True), (503, False, True),
])
def test_webhook_answers(status, permanent, down):
    assert delivery.webhook_failure(status) == (permanent, down)


@pytest.mark.parametrize("code, permanent", [(421, False), (450, False), (451, False), (550, True), (554, True)])
def test_smtp_reply_classes(code, permanent):
    assert delivery.smtp_permanent(code) is permanent


@pytest.mark.parametrize("row, state", [
    ({"status": "sent", "attempts": 1}, "sent"),
    ({"status": "dead", "attempts": 2}, "dead"),
    ({"status": "pending", "attempts": 0}, "pending"),
    ({"status": "pending", "attempts": 2}, "retrying"),
    ({"status": "pending", "attempts": 1, "attempt_started": "2026-03-01T11:00:00Z"}, "sending"),
])
def test_states_as_shown(row, state):
    assert delivery.state(row) == state


def test_stale_after_an_hour_pending():
    assert delivery.stale({"status": "pending", "queued": "2026-03-01T10:59:00Z"}, NOW)
    assert not delivery.stale({"status": "pending", "queued": "2026-03-01T11:30:00Z"}, NOW)
    assert not delivery.stale({"status": "dead", "queued": "2026-03-01T01:00:00Z"}, NOW)
