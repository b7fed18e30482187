"""Process lifetime of `news-monitor run`: the APScheduler jobs (a poll tick that asks the store what
is due, the daily digest at local time), SIGTERM/SIGINT, and the single-instance lock on state_dir.
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


@contextmanager
def instance_lock(state_dir: Path) -> Iterator[None]:
    """One process per state directory: two would race to send the same messages."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "monitor.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another news-monitor is running on {state_dir} (lock {path})") from None
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
        self.scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})

    def poll(self) -> None:
        """The tick: run the feeds that are due; nothing here may kill the scheduler."""
        try:
            with Store.open(self.config.db_path) as store:
                report = self.pipeline.run_cycle(store)
            if report.feeds_polled or report.delivered or report.delivery_errors:
                log.info("cycle: %s", report.summary())
        except Exception:  # the service outlives any one bad cycle; the next tick retries
            log.exception("poll cycle failed")

    def digest(self) -> None:
        try:
            with Store.open(self.config.db_path) as store:
                message = self.pipeline.build_digest(store)
                report = self.pipeline.deliver(store)
            log.info("digest %s: %d items, %d deliveries", message.id, len(message.items), report.delivered)
        except Exception:
            log.exception("digest failed")

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
        log.info("news-monitor running: %d feeds, digest at %s %s; stop with Ctrl-C or SIGTERM",
                 len(self.config.feeds), digest.at, digest.timezone)
        try:
            while not self.stop_requested.wait(1.0):
                pass
        finally:
            log.info("stopping: waiting for the running job to finish")
            self.scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("stopped")

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s", signal.Signals(signum).name)
        self.stop_requested.set()
