"""kill -9 while the monitor delivers, over `run --once` and over the long-running `run`, with email,
Slack and file channels on loopback. Each round a feed grows by two new alert-worthy stories (two alert
messages); the process is killed at a random moment; after a final clean run every alert must have
reached every channel (nothing lost) and at most one copy per kill may repeat (the message in flight).
Prints the stored-once / lost / duplicated counts per channel; DELIVERY_KILLS sets the kills per mode."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tests.helpers import wait_for
from tests.servers import ScriptedInbox, WebhookScript, smtp_server

KILLS = int(os.environ.get("DELIVERY_KILLS", "5"))
SLACK = "/hooks/slack"
RULE = """name: zebra
description: Zebra sightings (a test rule that alerts on every story).
alert: immediate
query: zebra
"""
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fo", "gu", "ho", "ji", "pe", "wy"]


class GrowingFeed:
    """Each request adds two stories, each with words of its own (so none folds into another)."""

    def __init__(self, base: str, seed: int):
        self.base = base
        self.rng = random.Random(seed)
        self.items: list[str] = []

    def _word(self) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4)))

    def __call__(self, info) -> tuple[int, dict[str, str], bytes]:
        now = format_datetime(datetime.now(UTC), usegmt=True)
        for _ in range(2):
            n = len(self.items)
            words = " ".join(self._word() for _ in range(40))
            self.items.append(f"<item><title>Zebra report Z{n:04d} {self._word()} {self._word()}</title>"
                              f"<link>{self.base}/z/{n}.html</link><guid>z-{n}</guid><pubDate>{now}</pubDate>"
                              f"<description>A zebra was seen: {words}.</description></item>")
        body = ("<?xml version='1.0'?><rss version='2.0'><channel><title>Zebra wire</title>"
                f"<link>{self.base}/</link>{''.join(self.items)}</channel></rss>")
        return 200, {"Content-Type": "application/rss+xml"}, body.encode()


def start(config, hook_url: str, mode: str) -> subprocess.Popen:
    args = ["run", "--once"] if mode == "once" else ["run"]
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_SLACK_WEBHOOK_URL": hook_url})


def db(config) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "state" / "monitor.db", timeout=30)


def alerts(config) -> dict[str, str]:
    """Alert message id -> the Z-number of its story's item."""
    out = {}
    for message_id, data in db(config).execute("SELECT id, json FROM messages WHERE kind = 'alert'"):
        out[message_id] = data.split("Zebra report ")[1][:5]
    return out


@pytest.fixture
def kill_setup(make_server, write_config, tmp_path):
    site = make_server(None)
    feed = GrowingFeed(site.base, seed=9)
    site.route("/zebra.xml", feed)
    hook = WebhookScript((200, {"Content-Type": "text/plain"}, b"ok"), delay=0.05)
    site.route(SLACK, hook)
    rules = tmp_path / "zebra-rules"
    rules.mkdir()
    (rules / "zebra.yaml").write_text(RULE, encoding="utf-8")
    inbox = ScriptedInbox(data_delay=0.05)
    with smtp_server(inbox) as port:
        config = write_config([{"url": site.url("/zebra.xml"), "name": "Zebra wire", "interval": "1s"}], channels=[
            {"type": "file"}, {"type": "slack"},
            {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "monitor@example.org",
             "to": "analyst@example.org", "timeout": 10}],
            rules_dir=rules, fetch={"fetch_pages": False}, extract={"workers": 0})
        yield config, site.url(SLACK), inbox, hook


def first_copies(config, inbox, hook) -> dict[str, dict[str, tuple[float, float]]]:
    """Per channel (email, Slack): each alert's first copy as the server saw it (came in, answered)."""
    ids = alerts(config)
    by_z = {z: m for m, z in ids.items()}
    found: dict[str, dict[str, tuple[float, float]]] = {"email": {}, "slack": {}}
    for (_, mail), span in zip(inbox.mails, inbox.spans, strict=True):
        found["email"].setdefault(mail["Message-ID"].strip("<>").split(".")[0], span)
    for body, span in zip(hook.posts, hook.spans, strict=True):
        for part in body.decode("utf-8", "replace").split("Zebra report ")[1:]:
            if part[:5] in by_z:
                found["slack"].setdefault(by_z[part[:5]], span)
    return found


def when_killed(kills: list[float], span: tuple[float, float]) -> str:
    """Where the kill that repeated a message fell: while the server was taking it (its own part of the window),
    or after it answered (ours)."""
    came, answered = span
    if any(came <= k <= answered for k in kills):
        return "before the server answered"
    after = [k - answered for k in kills if k > answered]
    return f"{min(after) * 1000:.1f} ms after the server answered" if after else "no kill after it"


def counts(config, inbox, hook) -> dict[str, Counter]:
    """Per channel: how many times each alert arrived."""
    ids = alerts(config)
    mail = Counter(m["Message-ID"].strip("<>").split(".")[0] for _, m in inbox.mails)
    by_z = Counter()
    for body in hook.posts:
        text = body.decode("utf-8", "replace")
        for z in {text.split("Zebra report ")[k][:5] for k in range(1, text.count("Zebra report ") + 1)}:
            by_z[z] += 1
    outbox = config.parent / "state" / "outbox"
    files = {m: len(list(outbox.glob(f"*-alert-{m}.json"))) for m in ids}
    return {"email": Counter({m: mail[m] for m in ids}), "slack": Counter({m: by_z[z] for m, z in ids.items()}),
            "file": Counter(files)}


@pytest.mark.parametrize("mode", ["once", "service"])
def test_kill_minus_nine_while_delivering_loses_nothing(kill_setup, mode):
    config, hook_url, inbox, hook = kill_setup
    rng = random.Random(17 if mode == "once" else 23)
    started = time.monotonic()
    clean = start(config, hook_url, "once")  # a clean first run: how long one takes here, under this machine's load
    clean.wait(120)
    lifetime = time.monotonic() - started
    killed_at: list[float] = []
    for _ in range(KILLS):
        proc = start(config, hook_url, mode)
        time.sleep(rng.uniform(0.2, lifetime * 1.2))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_at.append(time.monotonic())
        proc.wait(30)
    kills = len(killed_at)
    # recovery: what the clock would do (retry times come), then two clean cycles
    conn = db(config)
    conn.execute("UPDATE deliveries SET next_attempt = NULL WHERE status = 'pending'")
    conn.commit()
    for _ in range(2):
        assert start(config, hook_url, "once").wait(120) == 0

    seen = counts(config, inbox, hook)
    first = first_copies(config, inbox, hook)
    summary, repeats = [], []
    for channel, per_message in seen.items():
        once = sum(1 for n in per_message.values() if n == 1)
        lost = sum(1 for n in per_message.values() if n == 0)
        dup = sum(1 for n in per_message.values() if n > 1)
        summary.append(f"{channel}: {once} once, {lost} lost, {dup} duplicated")
        repeats += [f"{channel} {m}: killed {when_killed(killed_at, first[channel][m])}"
                    for m, n in per_message.items() if n > 1 and channel in first]
        assert lost == 0, f"{channel}: {lost} alerts never arrived"
        assert dup <= kills, f"{channel}: {dup} duplicates from {kills} kills"
    statuses = Counter(s for (s,) in db(config).execute("SELECT status FROM deliveries"))
    assert set(statuses) == {"sent"}, statuses
    print(f"\nkill -9 over `run{' --once' if mode == 'once' else ''}`: {kills} kills, {len(alerts(config))} alerts; "
          + "; ".join(summary) + "".join(f"\n  repeated: {line}" for line in repeats))


class LockingInbox(ScriptedInbox):
    """An SMTP server that, as it accepts the first mail, takes the monitor's database write lock (as a poll
    cycle storing a batch of articles does) and keeps it until released: the sender's commit of "sent" waits."""

    def __init__(self, database):
        super().__init__()
        self.database = database
        self.holder: sqlite3.Connection | None = None

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        if self.holder is None:
            self.holder = lock_database(self.database)
        return await super().handle_DATA(server, session, envelope)


class LockingHook(WebhookScript):
    """A Slack webhook that takes the database write lock as it accepts its first post."""

    def __init__(self, database):
        super().__init__((200, {"Content-Type": "text/plain"}, b"ok"))
        self.database = database
        self.holder: sqlite3.Connection | None = None

    def __call__(self, info):
        if info.method == "POST" and self.holder is None:
            self.holder = lock_database(self.database)
        return super().__call__(info)


def lock_database(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


@pytest.mark.parametrize("channel", ["email", "slack"])
def test_a_kill_while_the_sent_commit_waits_for_the_write_lock_sends_nothing_twice(make_server, write_config,
                                                                                   tmp_path, channel):
    """The server accepted the message; our commit of "sent" waits behind another writer's lock (in the service, a
    poll cycle stores articles in batches that hold it 0.1-0.3 s each, back to back); kill -9 then. The acceptance
    was written to the journal the moment the server answered, so the next run records it and sends the message
    no second time. Before, the window was as long as the lock was held: the message went out twice."""
    from monitor.journal import PREFIX

    site = make_server(None)
    site.route("/zebra.xml", GrowingFeed(site.base, seed=4))
    rules = tmp_path / "zebra-rules"
    rules.mkdir()
    (rules / "zebra.yaml").write_text(RULE, encoding="utf-8")
    database = tmp_path / "state" / "monitor.db"
    hook = LockingHook(database)
    site.route(SLACK, hook)
    inbox = LockingInbox(database)
    with smtp_server(inbox) as port:
        channels = ([{"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "monitor@example.org",
                      "to": "analyst@example.org", "timeout": 10}] if channel == "email" else [{"type": "slack"}])
        config = write_config([{"url": site.url("/zebra.xml"), "name": "Zebra wire"}], channels=channels,
                              rules_dir=rules, fetch={"fetch_pages": False}, extract={"workers": 0})
        holder = (lambda: inbox.holder) if channel == "email" else (lambda: hook.holder)
        proc = start(config, site.url(SLACK), "once")
        try:
            assert wait_for(lambda: holder() is not None or proc.poll() is not None, 120), "nothing was sent"
            assert holder() is not None, f"the run ended ({proc.returncode}) before sending"
            journals = (config.parent / "state").glob
            # the sender is now waiting for the lock to commit; give it the time to write its journal (before the
            # journal existed, this waited in vain and the kill below made the duplicate)
            wait_for(lambda: any(j.stat().st_size > 0 for j in journals(f"{PREFIX}*.journal")), 30)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        finally:
            if holder() is not None:
                holder().execute("ROLLBACK")
                holder().close()
            if proc.poll() is None:
                proc.kill()
        first = list(alerts(config))
        assert len(first) == 2
        assert start(config, site.url(SLACK), "once").wait(120) == 0
        seen = counts(config, inbox, hook)[channel]
    assert all(seen[m] == 1 for m in first), seen  # the one accepted before the kill, and the one after it
    assert all(n == 1 for n in seen.values()), seen
    assert {s for (s,) in db(config).execute("SELECT status FROM deliveries")} == {"sent"}
