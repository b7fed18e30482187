"""One delivery round: every due delivery, each channel in a thread of its own (a hung server holds up only its own
channel) within its time budget.

Each attempt is recorded (committed) before its send. What the server took is written to the channel's acceptance
journal (`journal`) in one write as it answers, then committed: a crash can repeat at most the message whose
acceptance was not yet written (same Message-ID), even while the commit waits for a poll cycle's write lock.
A channel that times out, is unreachable, rate-limited or answering 5xx is sent nothing more this
round: its other due messages wait as long as the failed one, and the channel is held (rules.rest).
What a failure means (retry when, or dead) is decided in `delivery`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from monitor import delivery as rules
from monitor.channels import Sender
from monitor.config import DeliveryConfig
from monitor.errors import DeliveryError
from monitor.journal import Journal, replay
from monitor.models import Delivery
from monitor.polling import retry_after
from monitor.store import Store

log = logging.getLogger("monitor.deliver")


@dataclass
class RoundReport:
    delivered: int = 0
    errors: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)

    def add(self, other: RoundReport) -> None:
        self.delivered += other.delivered
        self.errors.extend(other.errors)
        self.dead.extend(other.dead)


@dataclass
class Courier:
    senders: Sequence[Sender]
    settings: DeliveryConfig
    clock: Callable[[], datetime]

    def run(self, store: Store) -> RoundReport:
        report = RoundReport()
        senders = {s.name: s for s in self.senders}
        where = store.path()
        if where is not None:
            replay(store, where.parent, list(senders))  # what a killed process saw accepted and had not committed
        self._expire(store, list(senders), report)  # a held channel's too: the hold does not stop the clock
        due: dict[str, list[Delivery]] = {}
        for d in store.pending_deliveries(self.clock(), list(senders)):
            due.setdefault(d.channel, []).append(d)
        if where is None or len(due) < 2:  # one channel, or a database in memory (one connection, one thread)
            for name, deliveries in due.items():
                self._channel_round(store, senders[name], deliveries, report)
            return report
        # a thread and a connection per channel: a mail server that hangs for the round's budget holds up neither
        # the file outbox nor Slack. Daemon threads: a stopping service waits for a send only its grace period
        parts = {name: RoundReport() for name in due}
        threads = [threading.Thread(target=self._alone, args=(where, senders[name], deliveries, parts[name]),
                                    name=f"deliver-{name}", daemon=True) for name, deliveries in due.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for part in parts.values():
            report.add(part)
        return report

    def _alone(self, where: Path, sender: Sender, deliveries: list[Delivery], report: RoundReport) -> None:
        try:
            with Store.open(where) as store:
                self._channel_round(store, sender, deliveries, report)
        except Exception as exc:  # this channel's round ends; the others go on, and its messages stay queued
            log.exception("%s: the delivery round failed", sender.name)
            report.errors.append(f"{sender.name}: the delivery round failed: {type(exc).__name__}: {exc}")

    def _channel_round(self, store: Store, sender: Sender, deliveries: list[Delivery], report: RoundReport) -> None:
        where = store.path()
        journal = Journal.of(where.parent, sender.name) if where is not None else None
        try:
            self._channel(store, sender, deliveries, report, journal)
        finally:
            sender.close()
            if journal is not None:
                journal.close()

    def _expire(self, store: Store, channels: list[str], report: RoundReport) -> None:
        give_up = timedelta(seconds=self.settings.give_up_after)
        for row in store.overdue_deliveries(self.clock() - give_up, channels):
            outcome = rules.Outcome(rules.DEAD, row["failure"] or rules.TEMPORARY,
                                    rules.given_up(row["last_error"], give_up))
            store.record_failure(row["message_id"], row["channel"], status=outcome.status, error=outcome.error,
                                 failure=outcome.failure, next_attempt=None)
            self._log_dead(row["message_id"], row["channel"], outcome, report)

    def _channel(self, store: Store, sender: Sender, deliveries: list[Delivery], report: RoundReport,
                 journal: Journal | None) -> None:
        deadline = time.monotonic() + self.settings.round_budget
        give_up = timedelta(seconds=self.settings.give_up_after)
        for n, d in enumerate(deliveries):
            now = self.clock()
            if rules.expired(_parse(d.queued), now, give_up):
                outcome = rules.Outcome(rules.DEAD, d.failure or rules.TEMPORARY, rules.given_up(d.last_error, give_up))
                store.record_failure(d.message_id, d.channel, status=outcome.status, error=outcome.error,
                                     failure=outcome.failure, next_attempt=None)
                self._log(d, outcome, report)
                continue
            if time.monotonic() >= deadline:
                log.warning("%s: the round's %ss budget is spent; %d message(s) wait for the next round",
                            sender.name, self.settings.round_budget, len(deliveries) - n)
                return
            d = replace(d, ref=d.ref or sender.ref_for(d))
            store.begin_attempt(d.message_id, d.channel, now, d.ref)
            try:
                answers = sender.send(replace(d, progress=partial(_progress, journal, store, d)), deadline)
            except Exception as exc:  # a channel's bug is this delivery's failure, not the round's
                if not isinstance(exc, DeliveryError):
                    log.error("%s: %s: %s", d.channel, type(exc).__name__, exc, exc_info=True)
                    exc = DeliveryError(f"{type(exc).__name__}: {exc}", channel=d.channel, target=None)
                outcome = self._fail(store, d, exc, report, give_up)
                if exc.channel_down:
                    if exc.permanent:  # the channel refuses every message alike (a login refused): not tried, each
                        for other in deliveries[n + 1:]:  # shares the failure and its retry
                            self._fail(store, other, exc, report, give_up)
                    self._stop_channel(store, d.channel, exc, outcome)
                    return
                continue
            if answers:
                self._recipients(store, d, answers, report, give_up, journal)
            else:
                _record(journal, store, "record_sent", d.message_id, d.channel, now=self.clock())
                report.delivered += 1

    def _fail(self, store: Store, d: Delivery, exc: DeliveryError, report: RoundReport,
              give_up: timedelta) -> rules.Outcome:
        now = self.clock()
        outcome = rules.after_failure(str(exc), permanent=exc.permanent, previous=d.failure, attempts=d.attempts + 1,
                                      queued=_parse(d.queued), now=now, give_up_after=give_up,
                                      retry_after=retry_after(exc.retry_after, now))
        store.record_failure(d.message_id, d.channel, status=outcome.status, error=outcome.error,
                             failure=outcome.failure, next_attempt=outcome.next_attempt)
        self._log(d, outcome, report)
        return outcome

    def _recipients(self, store: Store, d: Delivery, answers: dict[str, DeliveryError | None],
                    report: RoundReport, give_up: timedelta, journal: Journal | None) -> None:
        """An email's answer per recipient: the accepted ones are done, each refused one goes its own way
        (retried, or dead), and the delivery is what its recipients add up to."""
        now = self.clock()
        recipients = dict(d.recipients)
        for addr, exc in answers.items():
            if exc is None:
                recipients[addr] = {"status": rules.SENT, "at": now.isoformat()}
                continue
            o = rules.after_failure(exc.message, permanent=exc.permanent,
                                    previous=recipients.get(addr, {}).get("failure"), attempts=d.attempts + 1,
                                    queued=_parse(d.queued), now=now, give_up_after=give_up)
            recipients[addr] = {"status": o.status, "failure": o.failure, "error": o.error,
                                "next_attempt": o.next_attempt.isoformat() if o.next_attempt else None}
        if any(exc is None for exc in answers.values()):
            report.delivered += 1  # the accepted recipients have it
        status, error = rules.settle(recipients)
        if status == rules.SENT:
            _record(journal, store, "record_sent", d.message_id, d.channel, now=now, recipients=recipients)
            return
        waits = [r["next_attempt"] for r in recipients.values()
                 if r["status"] == rules.PENDING and r.get("next_attempt")]
        failure = (rules.PERMANENT if all(r.get("failure") == rules.PERMANENT for r in recipients.values()
                                          if r["status"] != rules.SENT) else rules.TEMPORARY)
        outcome = rules.Outcome(status, failure, f"{d.channel}: {error}",
                                datetime.fromisoformat(min(waits)) if waits else None)
        # the accepted recipients are in it: journaled like a send, so none of them is mailed again after a kill
        _record(journal, store, "record_failure", d.message_id, d.channel, status=status, error=outcome.error,
                failure=failure, next_attempt=outcome.next_attempt, recipients=recipients)
        self._log(d, outcome, report)

    def _stop_channel(self, store: Store, channel: str, exc: DeliveryError, outcome: rules.Outcome) -> None:
        """Nothing more to this channel this round; its other due messages wait as long as this one, and the
        channel is held (messages queued meanwhile included): as long as the server's Retry-After says, or,
        down without saying, until this message's retry (rules.rest)."""
        now = self.clock()
        until = rules.rest(now, retry_after(exc.retry_after, now), outcome.next_attempt)
        if until is not None:
            store.hold_channel(channel, until, str(exc))
        if outcome.next_attempt is not None:
            store.postpone(channel, outcome.next_attempt)
        log.warning("%s: not tried again this round%s", channel,
                    f"; held until {until.strftime('%H:%M:%S UTC')}" + (
                        " (the server's Retry-After)" if exc.retry_after else "") if until is not None else "")

    @staticmethod
    def _log_dead(message_id: str, channel: str, outcome: rules.Outcome, report: RoundReport) -> None:
        report.errors.append(outcome.error)
        report.dead.append(outcome.error)
        log.error("%s (message %s to %s is dead; `news-monitor outbox retry %s` sends it again)",
                  outcome.error, message_id, channel, message_id)

    def _log(self, d: Delivery, outcome: rules.Outcome, report: RoundReport) -> None:
        if outcome.status == rules.DEAD:
            self._log_dead(d.message_id, d.channel, outcome, report)
        else:
            report.errors.append(outcome.error)
            log.warning("%s (message %s stays queued; next try %s)", outcome.error, d.message_id,
                        outcome.next_attempt.strftime("%H:%M:%S UTC") if outcome.next_attempt else "now")


def _record(journal: Journal | None, store: Store, call: str, message_id: str, channel: str, **kwargs: object) -> None:
    """Record what a server took: through the channel's journal when the store is a file (a kill while the commit
    waits does not send it again), straight into the store otherwise."""
    if journal is not None:
        journal.record(store, call, message_id, channel, **kwargs)
    else:
        getattr(store, call)(message_id, channel, **kwargs)


def _progress(journal: Journal | None, store: Store, d: Delivery, progress: dict) -> None:
    _record(journal, store, "record_progress", d.message_id, d.channel, progress=progress)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
