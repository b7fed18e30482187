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
from tests.helpers import outbox, wait_for


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
    # the first process must start and stop before the digest minute: at least 40 s for it (a loaded machine took
    # over 30 s), without sleeping first
    digest_at = (now + timedelta(minutes=1 if now.second <= 20 else 2)).replace(second=0, microsecond=0)
    config = write_config([], digest={"at": digest_at.strftime("%H:%M"), "timezone": "UTC"},
                          service={"tick": "1s"})
    db = config.parent / "state" / "monitor.db"

    first = start(config)
    try:
        # the first start's baseline: yesterday's slot
        assert wait_for(lambda: slot(db) is not None, timeout=(digest_at - datetime.now(UTC)).total_seconds() - 2)
    finally:
        kill(first)
    assert datetime.now(UTC) < digest_at, "the first service must stop before its digest time"
    assert outbox(config, "digest") == []

    # down across the digest time, and for more than two ticks after it (so it counts as missed, not just due)
    time.sleep(max(0.0, (digest_at - datetime.now(UTC)).total_seconds()) + 3)
    second = start(config)
    try:
        assert wait_for(lambda: len(outbox(config, "digest")) == 1, timeout=90)  # a ceiling: a loaded box starts slowly
    finally:
        err = kill(second)
    assert "was missed while the service was down: sending it now" in err
    assert slot(db) == digest_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    third = start(config)
    try:
        # its poll tick has run several times, so its digest tick (started with it) has too
        assert wait_for(lambda: _ticks_since(db, third.pid) >= 3, timeout=90)
    finally:
        kill(third)
    assert len(outbox(config, "digest")) == 1


def _ticks_since(db, pid: int, seen: dict = {}) -> int:  # noqa: B006 - counts distinct heartbeats across calls
    with Store.open(db) as store:
        beat = store.heartbeats().get("poll")
    if beat and beat["pid"] == pid and beat["finished"]:
        seen.setdefault(pid, set()).add(beat["started"])
    return len(seen.get(pid, ()))


def test_a_digest_sent_by_hand_counts_as_that_slots_digest(write_config, tmp_path):
    """The service sent yesterday's digest and is down at today's digest time; the analyst sends it by hand
    (`news-monitor digest`). The service started again does not send it a second time; without the hand-run,
    the same service sends it at start (the control)."""
    today = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)  # a slot just passed
    sent = {}
    for case in ("by hand", "control"):
        folder = tmp_path / case.replace(" ", "-")
        folder.mkdir()
        config = write_config([], digest={"at": today.strftime("%H:%M"), "timezone": "UTC"}, service={"tick": "1s"})
        config = config.rename(folder / "monitor.yaml")
        db = folder / "state" / "monitor.db"
        db.parent.mkdir()
        with Store.open(db) as store:  # the service ran yesterday and sent yesterday's digest
            store.claim_slot("digest", today - timedelta(days=1), today - timedelta(days=1))
        if case == "by hand":
            hand = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "digest"],
                                  capture_output=True, text=True, timeout=120)
            assert hand.returncode == 0 and hand.stdout.startswith("digest "), hand.stderr
            assert len(outbox(config, "digest")) == 1 and slot(db) == today.strftime("%Y-%m-%dT%H:%M:%SZ")
        service = start(config)
        try:  # several poll ticks (the digest tick starts with them): time enough to send a missed digest
            assert wait_for(lambda db=db, pid=service.pid: _ticks_since(db, pid) >= 3, timeout=90)
            if case == "control":
                assert wait_for(lambda config=config: len(outbox(config, "digest")) == 1, timeout=90)
        finally:
            sent[case] = (kill(service), len(outbox(config, "digest")))
    err, digests = sent["by hand"]
    assert digests == 1 and "was missed" not in err, err
    err, digests = sent["control"]
    assert digests == 1 and "was missed while the service was down: sending it now" in err
