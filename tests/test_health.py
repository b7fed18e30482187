"""Health: a real `news-monitor run` writes heartbeats; `status --check` is 0 while its tick runs, non-zero
(one line why) when the tick stops (the process frozen with SIGSTOP) and when it is gone, and 0 again when
the tick resumes; `status --json`; dead deliveries and every feed failing are unhealthy too."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from monitor.config import load_config
from monitor.health import Snapshot, assess
from monitor.store import Store
from tests.helpers import cli, wait_for


def start_service(config):
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def check(config) -> subprocess.CompletedProcess:
    return cli(config, "status", "--check", timeout=60)


def test_check_follows_the_tick_of_a_real_service(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], service={"tick": "1s", "stale_after": "4s"},
                          extract={"workers": 0})
    before = check(config)
    assert before.returncode == 1 and before.stdout.startswith("unhealthy: the service is not running")
    service = start_service(config)
    try:
        assert wait_for(lambda: check(config).returncode == 0, timeout=60)
        healthy = check(config)
        assert healthy.stdout.startswith(f"healthy: pid {service.pid}, last cycle ") and len(
            healthy.stdout.splitlines()) == 1
        report = json.loads(cli(config, "status", "--json").stdout)
        assert report["healthy"] and report["running"]["pid"] == service.pid and report["running"]["since"]
        assert report["last_cycle"]["finished"] and "feeds_polled" in report["last_cycle"]["counts"]
        assert report["feeds"]["total"] == 1 and report["feeds"]["ok"] + report["feeds"]["partial"] == 1
        assert report["next_digest"] and report["database"]["bytes"] > 0
        text = cli(config, "status").stdout
        assert f"service: running (pid {service.pid}, since " in text and "next poll: " in text
        assert "health: ok" in text

        service.send_signal(signal.SIGSTOP)  # the process lives and holds its lock, but its tick stops
        assert wait_for(lambda: check(config).returncode == 1, timeout=60)
        stale = check(config)
        assert stale.stdout.startswith("unhealthy: the last poll cycle ") and "service.stale_after" in stale.stdout
        service.send_signal(signal.SIGCONT)
        assert wait_for(lambda: check(config).returncode == 0, timeout=60)
    finally:
        service.send_signal(signal.SIGCONT)
        service.terminate()
        _, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
    assert "next poll now; next digest " in err  # the start-up line names the next runs
    assert check(config).stdout.startswith("unhealthy: the service is not running")


def snapshot(**changes) -> Snapshot:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    beat = {"started": "2026-12-05T11:59:50Z", "finished": "2026-12-05T11:59:55Z", "seconds": 5.0, "counts": {},
            "pid": 7}
    feed = {"disabled": 0, "errors": 0, "last_ok": "2026-12-05T11:59:55Z", "next_check": "2026-12-05T12:10:00Z",
            "problems": None}
    base = {"pid": 7, "heartbeats": {"poll": beat}, "feeds": [feed, feed], "deliveries": {"sent": 3},
            "next_poll": "2026-12-05T12:10:00Z", "counts": {"articles": 1}, "db_bytes": 4096}
    return Snapshot(**{**base, **changes}), now, feed


def test_dead_deliveries_every_feed_failing_and_a_hung_cycle_are_unhealthy(write_config):
    config = load_config(write_config([]))
    snap, now, feed = snapshot()
    assert assess(snap, config, now)["problems"] == []
    dead, _, _ = snapshot(deliveries={"sent": 3, "dead": 2})
    assert assess(dead, config, now)["problems"] == ["2 deliveries are dead (see news-monitor status)"]
    failing = {**feed, "errors": 3, "next_check": "2026-12-05T13:00:00Z"}
    all_failing, _, _ = snapshot(feeds=[failing, {**feed, "disabled": 1}])
    health = assess(all_failing, config, now)
    assert health["problems"] == ["every feed is failing (1 failing, 1 disabled)"]
    assert health["feeds"] == {"total": 2, "ok": 0, "partial": 0, "failing": 1, "backing_off": 1, "disabled": 1,
                               "not_polled": 0}
    assert assess(snapshot(feeds=[failing, feed])[0], config, now)["problems"] == []  # one of two: a feed problem
    hung, _, _ = snapshot(heartbeats={"poll": {"started": "2026-12-05T11:58:00Z", "finished": None, "seconds": None,
                                               "counts": {}, "pid": 7}})
    assert assess(hung, config, now)["problems"] == [
        "the last poll cycle began 120s ago (limit 90s: service.stale_after)"]  # default: three 30 s ticks
    assert assess(hung, config, now + timedelta(seconds=-60))["problems"] == []


HOLD_WRITE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE feeds SET name = name")
print("holding", flush=True)
sys.stdin.read()  # the write transaction stays open until the test closes our stdin
"""


def test_status_answers_while_another_process_holds_a_write_transaction(write_config):
    """The healthcheck must read while the service writes: opening the store asked for the write lock (a pragma
    meant for new databases), so a service stopped inside a transaction made `status --check` fail after 30 s
    with "database is locked" instead of saying why it is unhealthy."""
    config = write_config([{"url": "https://example.org/feed.xml"}])
    assert check(config).returncode == 1  # creates the database
    db = config.parent / "state" / "monitor.db"
    writer = subprocess.Popen([sys.executable, "-c", HOLD_WRITE, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "holding\n"
        held = check(config)
        assert held.stdout.startswith("unhealthy: the service is not running"), held.stderr
        assert "locked" not in held.stderr
        assert json.loads(cli(config, "status", "--json").stdout)["feeds"]["total"] == 1
    finally:
        writer.communicate("")
    assert writer.returncode == 0


def test_a_new_store_frees_pages_in_steps_and_an_older_one_is_converted_by_its_full_vacuum(tmp_path):
    with Store.open(tmp_path / "new.db") as store:
        assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    older = tmp_path / "older.db"
    conn = sqlite3.connect(older)
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,) for _ in range(200)])
    conn.commit()
    conn.close()
    with Store.open(older) as store:
        assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0  # opening no longer rewrites it
        store.db.execute("DELETE FROM filler")
        assert store.reclaim() > 0  # most of it free: one full VACUUM
        assert store.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_a_frozen_service_never_holds_the_lock_that_readers_need(write_config):
    """Each of the service's jobs opens and closes its own connection. When the last connection to a WAL database
    closes, SQLite checkpoints and deletes the log under an exclusive lock: a service frozen in that moment made
    `status --check` wait 30 s and fail with "database is locked" (1 of 40 random SIGSTOPs). The service keeps one
    connection open for its life, so no job's close is the last: the log is never deleted while it runs (before,
    it was gone between every two ticks). Sampled with no connection of the test's own open."""
    config = write_config([], service={"tick": "1s"}, extract={"workers": 0})
    wal = config.parent / "state" / "monitor.db-wal"
    service = start_service(config)
    try:
        assert wait_for(lambda: check(config).returncode == 0, timeout=60)
        before = json.loads(cli(config, "status", "--json").stdout)["last_cycle"]["started"]
        samples = []
        deadline = time.monotonic() + 3.5  # three ticks or more, each a job's connection opened and closed
        while time.monotonic() < deadline:
            samples.append(wal.exists())
            time.sleep(0.002)
        after = json.loads(cli(config, "status", "--json").stdout)["last_cycle"]["started"]
        assert after > before and len(samples) > 500 and all(samples)
    finally:
        service.terminate()
        _, err = service.communicate(timeout=60)
    assert service.returncode == 0, err
    assert not wal.exists()  # the keeper's close at the stop is the last: checkpointed and deleted as before
