"""A service killed before its digest time and started again after it sends that digest once, at start;
a further restart sends nothing more (real processes, real clock: the digest time is the next minute)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from monitor.store import Store
from tests.conftest import wait_for
from tests.helpers import outbox


def start(config) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def slot(db) -> str | None:
    if not db.exists():
        return None
    try:
        with Store.open(db) as store:
            row = store.schedule_rows().get("digest")
    except sqlite3.OperationalError:  # the service is creating the database: its first migration holds it
        return None
    return row and row["slot"]


def kill(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGKILL)
    return process.communicate(timeout=30)[1]


def test_a_digest_missed_while_down_is_sent_once_at_start(write_config):
    now = datetime.now(UTC)
    if now.second > 40:  # leave the first process time to start before the digest minute
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    digest_at = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    config = write_config([], digest={"at": digest_at.strftime("%H:%M"), "timezone": "UTC"},
                          service={"tick": "1s"})
    db = config.parent / "state" / "monitor.db"

    first = start(config)
    try:
        assert wait_for(lambda: slot(db) is not None, timeout=30)  # the first start's baseline: yesterday's slot
    finally:
        kill(first)
    assert datetime.now(UTC) < digest_at, "the first service must stop before its digest time"
    assert outbox(config, "digest") == []

    # down across the digest time, and for more than two ticks after it (so it counts as missed, not just due)
    time.sleep(max(0.0, (digest_at - datetime.now(UTC)).total_seconds()) + 3)
    second = start(config)
    try:
        assert wait_for(lambda: len(outbox(config, "digest")) == 1, timeout=30)
    finally:
        err = kill(second)
    assert "was missed while the service was down: sending it now" in err
    assert slot(db) == digest_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    third = start(config)
    try:
        # its poll tick has run several times, so its digest tick (started with it) has too
        assert wait_for(lambda: _ticks_since(db, third.pid) >= 3, timeout=30)
    finally:
        kill(third)
    assert len(outbox(config, "digest")) == 1


def _ticks_since(db, pid: int, seen: dict = {}) -> int:  # noqa: B006 - counts distinct heartbeats across calls
    with Store.open(db) as store:
        beat = store.heartbeats().get("poll")
    if beat and beat["pid"] == pid and beat["finished"]:
        seen.setdefault(pid, set()).add(beat["started"])
    return len(seen.get(pid, ()))
