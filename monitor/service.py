"""Process lifetime of `news-monitor run`: the APScheduler jobs (a poll tick that asks the store what
is due; a digest tick that asks `schedule` which digest slot has come and the store whether it was sent),
heartbeats for `status`, a delivery thread per channel (woken when a message is queued, so a hung mail server
holds up neither polling nor the other channels), `digest` and `prune` handed to it by hand
(monitor/handoff.py), and SIGTERM/SIGINT. The single-instance lock on state_dir is monitor/lock.py's.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import handoff
from monitor.models import Message
from monitor.pipeline import Pipeline
from monitor.schedule import last_slot, next_slot
from monitor.store import Store

log = logging.getLogger("monitor.service")
RULES_WATCH_SECONDS = 2  # how often rules_dir is checked for edits
DELIVER_TICK_SECONDS = 10  # how often the delivery thread looks for retries that came due
REQUESTS_SECONDS = 1  # how often it looks for a `digest` or `prune` handed to it by hand
# how long a stop waits for a send in flight; a message cut off here counts as "sending" and goes out
# again at the next start (same Message-ID): a hung server must not hold up a stop for the round's budget
STOP_GRACE_SECONDS = 10


class Service:
    def __init__(self, pipeline: Pipeline, watch_rules: Callable[[], object] | None = None):
        self.pipeline = pipeline
        self.watch_rules = watch_rules  # called every few seconds: edits in rules_dir apply quickly
        self.config = pipeline.config
        self.stop_requested = threading.Event()
        # a delivery thread per channel, each with its own rounds: a channel whose server hangs for the round's
        # budget holds up neither polling nor the other channels' next messages
        self.wake = {sender.name: threading.Event() for sender in pipeline.senders}
        self.deliverers = [threading.Thread(target=self._deliver_loop, args=(name,), name=f"deliver-{name}",
                                            daemon=True) for name in self.wake]
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    def poll(self) -> None:
        """The tick: run the feeds that are due; nothing here may kill the scheduler. Its heartbeat is
        written when it begins and when it ends: a cycle that hangs shows as a stale heartbeat."""
        try:
            started = self.pipeline.clock()
            with Store.open(self.config.db_path) as store:
                store.record_heartbeat("poll", started, pid=os.getpid())
                report = self.pipeline.run_cycle(store, deliver=False)
                store.record_heartbeat("poll", started, self.pipeline.clock(), report.counts(), pid=os.getpid())
            if report.alerts:
                self.wake_delivery()
            if report.feeds_polled:
                log.info("cycle: %s", report.summary())
        except Exception:  # the service outlives any one bad cycle; the next tick retries
            log.exception("poll cycle failed")

    def digest_if_due(self) -> None:
        """The digest tick: send the digest once for the latest slot that has come, if no digest was sent
        for it yet. The slot is claimed in SQLite before the digest is built: a crash between the two loses
        no hit (they wait for the next digest) and can never send the slot twice."""
        digest = self.config.digest
        try:
            now = self.pipeline.clock()
            slot = last_slot(now, digest.times, digest.timezone, digest.weekdays)
            if slot is None:
                return
            with Store.open(self.config.db_path) as store:
                claimed = store.claim_slot("digest", slot, now)
            if claimed:
                late = now - slot
                if late.total_seconds() > 2 * self.config.service.tick:
                    log.info("digest of %s was missed while the service was down: sending it now (%s late)",
                             slot.astimezone(ZoneInfo(digest.timezone)).strftime("%Y-%m-%d %H:%M %Z"),
                             str(late).split(".")[0])
                self.digest()
        except Exception:
            log.exception("digest schedule check failed")

    def digest(self) -> None:
        try:
            self._digest()
        except Exception:
            log.exception("digest failed")

    def _digest(self, claim: bool = False) -> Message:
        """Build the digest and queue it; the delivery thread sends it. `claim`: it is the digest of the latest
        slot that has come (a digest asked for by hand, claimed as `digest` claims it when no service runs)."""
        digest = self.config.digest
        started = self.pipeline.clock()
        with Store.open(self.config.db_path) as store:
            slot = last_slot(started, digest.times, digest.timezone, digest.weekdays) if claim else None
            if slot is not None:
                store.claim_slot("digest", slot, started)
            message = self.pipeline.build_digest(store)
            store.record_heartbeat("digest", started, self.pipeline.clock(),
                                   {"items": len(message.items)}, pid=os.getpid())
        self.wake_delivery()
        log.info("digest %s: %d items queued for delivery", message.id, len(message.items))
        return message

    def answer_requests(self) -> None:
        """`digest` and `prune` run by hand while the service holds the lock are handed to it (monitor/handoff.py):
        it does them here, so it stays the only process that sends."""
        try:
            handoff.serve(self.config.state_dir, {"digest": self._digest_asked, "prune": self._prune_asked})
        except Exception:
            log.exception("answering a hand-run command failed")

    def _digest_asked(self, options: dict) -> dict:
        log.info("a hand-run `news-monitor digest` (pid %s) asked for the digest now", options.get("pid", "?"))
        message = self._digest(claim=True)
        return {"message": message.id, "items": len(message.items), "header": message.data.get("header", "")}

    def _prune_asked(self, options: dict) -> dict:
        log.info("a hand-run `news-monitor prune` (pid %s) asked for retention now", options.get("pid", "?"))
        with Store.open(self.config.db_path) as store:
            return self.pipeline.prune(store)

    def prune(self) -> None:
        """The daily retention job (`retention:`); nothing to do when no retention is configured."""
        try:
            with Store.open(self.config.db_path) as store:
                counts = self.pipeline.prune(store)
            if any(counts.values()):
                log.info("retention: %d texts dropped, %d articles and %d delivered messages deleted, "
                         "%d bytes freed", counts["texts"], counts["articles"], counts["messages"], counts["bytes"])
        except Exception:
            log.exception("retention failed")

    def wake_delivery(self) -> None:
        """A message was queued: every channel's delivery thread looks now."""
        for event in self.wake.values():
            event.set()

    def deliver(self, channel: str | None = None) -> None:
        """One delivery round (of one channel, in its own thread: polling goes on while a channel is slow or hung)."""
        try:
            with Store.open(self.config.db_path) as store:
                report = self.pipeline.deliver(store, channel=channel)
            if report.delivered or report.delivery_errors:
                log.info("delivery%s: %d sent, %d failed", f" to {channel}" if channel else "", report.delivered,
                         len(report.delivery_errors))
        except Exception:
            log.exception("delivery round failed")

    def _deliver_loop(self, channel: str) -> None:
        wake = self.wake[channel]
        while not self.stop_requested.is_set():
            wake.clear()  # a message queued while this round runs wakes the next one at once
            self.deliver(channel)
            wake.wait(DELIVER_TICK_SECONDS)

    def schedule(self) -> None:
        """The jobs: a poll tick and a digest tick, both from now on (a digest missed while the service
        was down goes out at the first digest tick), and the rules watch."""
        tick = IntervalTrigger(seconds=self.config.service.tick)
        now = self.pipeline.clock()
        self.scheduler.add_job(self.poll, tick, id="poll", next_run_time=now)
        self.scheduler.add_job(self.digest_if_due, tick, id="digest", next_run_time=now)
        if any(self.config.retention.model_dump().values()):  # first an hour after start, then daily
            self.scheduler.add_job(self.prune, IntervalTrigger(hours=24), id="prune",
                                   next_run_time=now + timedelta(hours=1))
        if self.watch_rules is not None:
            self.scheduler.add_job(self._reload_rules, IntervalTrigger(seconds=RULES_WATCH_SECONDS), id="rules")
        self.scheduler.add_job(self.answer_requests, IntervalTrigger(seconds=REQUESTS_SECONDS), id="requests")

    def next_runs(self) -> str:
        """The next poll and digest, in the digest's local time, for the start-up log line."""
        digest = self.config.digest
        zone = ZoneInfo(digest.timezone)
        now = self.pipeline.clock()
        with Store.open(self.config.db_path) as store:
            due = store.next_poll()
        upcoming = next_slot(now, digest.times, digest.timezone, digest.weekdays)
        poll = ("no feeds" if due is None else "now" if due <= now.strftime("%Y-%m-%dT%H:%M:%SZ")
                else datetime.fromisoformat(due.replace("Z", "+00:00")).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"))
        return (f"next poll {poll}; next digest "
                f"{upcoming.astimezone(zone).strftime('%Y-%m-%d %H:%M %Z') if upcoming else 'none'}")

    def _reload_rules(self) -> None:
        try:
            self.watch_rules()
        except Exception:  # the first load succeeded at start-up; later problems are logged by the source
            log.exception("rules reload failed")

    def run(self) -> None:
        """Block until SIGTERM or SIGINT; then finish the running job and return."""
        digest = self.config.digest
        self.schedule()
        # Held open, idle, until the service stops: each job opens its own connection, and when the last connection
        # to a WAL database closes, SQLite checkpoints and deletes the log under an exclusive lock. A service frozen
        # in that moment (SIGSTOP, a paused container) made every reader, `status --check` too, wait 30 s and fail
        # with "database is locked"; with this one open, no job's close is the last.
        keeper = Store.open(self.config.db_path)
        keeper.record_heartbeat("service", self.pipeline.clock(), pid=os.getpid())  # since when it holds the lock
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        upcoming = self.next_runs()  # before the first poll runs and moves the feeds' next poll on
        self.scheduler.start()
        for deliverer in self.deliverers:
            deliverer.start()
        log.info("news-monitor running: %d feeds, digest at %s; %s; stop with Ctrl-C or SIGTERM",
                 len(self.config.feeds), digest.describe(), upcoming)
        try:
            while not self.stop_requested.wait(1.0):
                pass
        finally:
            log.info("stopping: waiting for the running job to finish")
            self.wake_delivery()
            self.scheduler.shutdown(wait=True)
            grace = time.monotonic() + STOP_GRACE_SECONDS
            for deliverer in self.deliverers:
                deliverer.join(max(0.0, grace - time.monotonic()))
            if any(deliverer.is_alive() for deliverer in self.deliverers):
                log.warning("stopping with a send in flight; it is sent again at the next start")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            keeper.close()
            log.info("stopped")

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.stop_requested.set()
