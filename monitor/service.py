"""Process lifetime of `news-monitor run`: the APScheduler jobs (a poll tick that asks the store what
is due, the daily digest at local time), the delivery thread (woken when a message is queued, so a
hung mail server never holds up polling), SIGTERM/SIGINT, and the single-instance lock on state_dir.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.errors import AlreadyRunning
from monitor.pipeline import Pipeline
from monitor.store import Store

log = logging.getLogger("monitor.service")
POLL_TICK_SECONDS = 30  # how often the store is asked which feeds are due
RULES_WATCH_SECONDS = 2  # how often rules_dir is checked for edits
DELIVER_TICK_SECONDS = 10  # how often the delivery thread looks for retries that came due
# how long a stop waits for a send in flight; a message cut off here counts as "sending" and goes out
# again at the next start (same Message-ID): a hung server must not hold up a stop for the round's budget
STOP_GRACE_SECONDS = 10


@contextmanager
def instance_lock(state_dir: Path, why: str = "") -> Iterator[None]:
    """One process per state directory: two would race to send the same messages. `why` tells the
    user of a refused command what to do instead."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "monitor.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip()
            raise AlreadyRunning(f"another news-monitor is running on {state_dir} (lock {path}"
                                 + (f", pid {pid}" if pid else "") + ")" + (f"; {why}" if why else "")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


class Service:
    def __init__(self, pipeline: Pipeline, watch_rules: Callable[[], object] | None = None):
        self.pipeline = pipeline
        self.watch_rules = watch_rules  # called every few seconds: edits in rules_dir apply quickly
        self.config = pipeline.config
        self.stop_requested = threading.Event()
        self.wake_delivery = threading.Event()
        self.deliverer = threading.Thread(target=self._deliver_loop, name="deliver", daemon=True)
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    def poll(self) -> None:
        """The tick: run the feeds that are due; nothing here may kill the scheduler."""
        try:
            with Store.open(self.config.db_path) as store:
                report = self.pipeline.run_cycle(store, deliver=False)
            if report.alerts:
                self.wake_delivery.set()
            if report.feeds_polled:
                log.info("cycle: %s", report.summary())
        except Exception:  # the service outlives any one bad cycle; the next tick retries
            log.exception("poll cycle failed")

    def digest(self) -> None:
        try:
            with Store.open(self.config.db_path) as store:
                message = self.pipeline.build_digest(store)
            self.wake_delivery.set()
            log.info("digest %s: %d items queued for delivery", message.id, len(message.items))
        except Exception:
            log.exception("digest failed")

    def deliver(self) -> None:
        """One delivery round; its own thread, so polling goes on while a channel is slow or hung."""
        try:
            with Store.open(self.config.db_path) as store:
                report = self.pipeline.deliver(store)
            if report.delivered or report.delivery_errors:
                log.info("delivery: %d sent, %d failed", report.delivered, len(report.delivery_errors))
        except Exception:
            log.exception("delivery round failed")

    def _deliver_loop(self) -> None:
        while not self.stop_requested.is_set():
            self.wake_delivery.clear()  # a message queued while this round runs wakes the next one at once
            self.deliver()
            self.wake_delivery.wait(DELIVER_TICK_SECONDS)

    def schedule(self) -> None:
        """The two jobs: a poll tick from now on, and the digest at the configured local time."""
        digest = self.config.digest
        self.scheduler.add_job(self.poll, IntervalTrigger(seconds=POLL_TICK_SECONDS), id="poll",
                               next_run_time=self.pipeline.clock())
        self.scheduler.add_job(self.digest, CronTrigger(hour=digest.time.hour, minute=digest.time.minute,
                                                        timezone=digest.timezone), id="digest")
        if self.watch_rules is not None:
            self.scheduler.add_job(self._reload_rules, IntervalTrigger(seconds=RULES_WATCH_SECONDS), id="rules")

    def _reload_rules(self) -> None:
        try:
            self.watch_rules()
        except Exception:  # the first load succeeded at start-up; later problems are logged by the source
            log.exception("rules reload failed")

    def run(self) -> None:
        """Block until SIGTERM or SIGINT; then finish the running job and return."""
        digest = self.config.digest
        self.schedule()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.scheduler.start()
        self.deliverer.start()
        log.info("news-monitor running: %d feeds, digest at %s %s; stop with Ctrl-C or SIGTERM",
                 len(self.config.feeds), digest.at, digest.timezone)
        try:
            while not self.stop_requested.wait(1.0):
                pass
        finally:
            log.info("stopping: waiting for the running job to finish")
            self.wake_delivery.set()
            self.scheduler.shutdown(wait=True)
            self.deliverer.join(STOP_GRACE_SECONDS)
            if self.deliverer.is_alive():
                log.warning("stopping with a send in flight; it is sent again at the next start")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("stopped")

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.stop_requested.set()
