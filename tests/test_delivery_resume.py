"""Left over from issue 9, against real loopback servers: a Slack message sent as several posts resumes at its
first unsent post after any interruption (a refused post, a process killed mid-message), so every post
arrives once; and `outbox retry` sends a message the receiver's Retry-After was holding back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

from monitor.channels.slack import POSTS, SlackSender
from monitor.config import DeliveryConfig, FetchConfig, SlackChannel
from monitor.courier import Courier
from monitor.digest import build_message
from monitor.fetch import Fetcher
from monitor.store import Store
from tests.helpers import ROOT, SLACK, db, deliveries, feeds_of, invoke, make_due, slack_env, wait_for
from tests.message_builders import LAYOUT, NOW, day, message
from tests.servers import WebhookScript

OK = (200, {"Content-Type": "text/plain"}, b"ok")


def part(post: bytes) -> str:
    """Which post of a message this is: its header ends in "(n/total)"."""
    return json.loads(post)["blocks"][0]["text"]["text"].rsplit("(", 1)[-1]


class StallSecond:
    """A Slack webhook that takes post 1, then holds post 2 open until told, answers it 500 (the sender is
    gone by then), and takes every later post. Records each post and whether it was accepted."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, int]] = []
        self.stalled = threading.Event()
        self.release = threading.Event()

    def __call__(self, info) -> tuple[int, dict[str, str], bytes]:
        n = part(info.body)
        if n.startswith("2/") and not self.release.is_set():
            self.stalled.set()
            self.release.wait(30)
            self.posts.append((n, 500))
            return 500, {"Content-Type": "text/plain"}, b"internal_error"
        self.posts.append((n, 200))
        return OK

    def accepted(self) -> list[str]:
        return [n for n, status in self.posts if status == 200]


def test_a_split_message_resumes_at_its_first_unsent_post_after_the_process_is_killed(tmp_path, site):
    """Post 1 of a digest is taken, the process dies while post 2 is on the wire: the next round sends
    post 2 onwards and never post 1 again. Before, progress lived only in the failure, so a crash (or a
    stop mid-message) sent the whole digest again."""
    hook = StallSecond()
    site.route(SLACK, hook)
    message = build_message("digest", day(500), NOW, layout=LAYOUT)
    database = tmp_path / "monitor.db"
    with Store.open(database) as store:
        store.save_message(message, [], ["slack"])
    script = (
        "import sys; from datetime import datetime; from pathlib import Path\n"
        "from monitor.channels.slack import SlackSender\n"
        "from monitor.config import DeliveryConfig, FetchConfig, SlackChannel\n"
        "from monitor.courier import Courier\n"
        "from monitor.fetch import Fetcher\n"
        "from monitor.store import Store\n"
        "sender = SlackSender(SlackChannel(type='slack', webhook_url=sys.argv[2]),\n"
        "                     Fetcher(FetchConfig(allow_private_networks=True)))\n"
        "with Store.open(Path(sys.argv[1])) as store:\n"
        "    Courier([sender], DeliveryConfig(), lambda: datetime.fromisoformat(sys.argv[3])).run(store)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(database), site.url(SLACK), NOW.isoformat()],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert wait_for(lambda: hook.stalled.is_set() or proc.poll() is not None, 60)
        assert hook.stalled.is_set(), "post 2 never arrived"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        hook.release.set()
        if proc.poll() is None:
            proc.kill()
    assert hook.accepted() == [f"1/{hook.posts[0][0].split('/')[1]}"]

    sender = SlackSender(SlackChannel(type="slack", webhook_url=site.url(SLACK)),
                         Fetcher(FetchConfig(allow_private_networks=True)))
    with Store.open(database) as store:
        (row,) = store.unsent_deliveries()
        assert row["recipients"][POSTS] == {"status": "sent", "count": 1}  # committed when Slack took post 1
        report = Courier([sender], DeliveryConfig(), lambda: NOW + timedelta(minutes=5)).run(store)
        assert report.delivered == 1 and store.unsent_deliveries() == []
    total = int(hook.posts[0][0].split("/")[1].rstrip(")"))
    accepted = hook.accepted()
    assert total >= 3 and sorted(accepted) == sorted(f"{n}/{total})" for n in range(1, total + 1))
    assert len(accepted) == len(set(accepted))  # every post arrived exactly once


def test_a_split_message_whose_second_post_fails_once_sends_each_post_once(site):
    """The receiver refuses post 2 once (503): the retry starts at post 2, so each post arrives once."""
    hook = WebhookScript(OK, (503, {"Content-Type": "text/plain"}, b"upstream_down"), OK)
    site.route(SLACK, hook)
    sender = SlackSender(SlackChannel(type="slack", webhook_url=site.url(SLACK)),
                         Fetcher(FetchConfig(allow_private_networks=True)))
    with Store.memory() as store:
        store.save_message(build_message("digest", day(500), NOW, layout=LAYOUT), [], ["slack"])
        assert Courier([sender], DeliveryConfig(), lambda: NOW).run(store).delivered == 0
        later = Courier([sender], DeliveryConfig(), lambda: NOW + timedelta(hours=1)).run(store)
        assert later.delivered == 1 and store.unsent_deliveries() == []
    parts = [part(p) for p in hook.posts]
    accepted = parts[:1] + parts[2:]  # the second request was the refused one
    assert len(parts) >= 4 and parts[1] == parts[2]
    assert len(accepted) == len(set(accepted)) and len(accepted) == int(parts[0].split("/")[1].rstrip(")"))


# -- `outbox retry` and a Retry-After hold ------------------------------------------------------------------

def test_outbox_retry_sends_a_message_held_by_retry_after_at_the_next_round(site, write_config):
    hook = WebhookScript((429, {"Retry-After": "600", "Content-Type": "text/plain"}, b"rate_limited"), OK)
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "file"}, {"type": "slack"}])
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 1
    held = deliveries(config, "slack")[0]
    assert held["status"] == "pending" and "HTTP 429" in held["last_error"]

    result = invoke(config, "outbox", "retry", held["message_id"], env=slack_env(site))
    assert result.exit_code == 0, result.output
    assert "channel slack: lifted the hold its server asked for until" in result.output
    assert "HTTP 429: rate_limited" in result.output
    assert db(config).execute("SELECT count(*) FROM channel_holds").fetchone()[0] == 0

    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 2  # the retried message, and nothing the hold had postponed
    after = {r["message_id"]: r for r in deliveries(config, "slack")}
    assert after[held["message_id"]]["status"] == "sent"
    assert all(r["status"] == "pending" for m, r in after.items() if m != held["message_id"])


def test_outbox_retry_of_a_still_busy_receiver_is_held_again_after_one_post(site, write_config):
    busy = (429, {"Retry-After": "600", "Content-Type": "text/plain"}, b"rate_limited")
    hook = WebhookScript(busy)
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "file"}, {"type": "slack"}])
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    make_due(config)
    first = deliveries(config, "slack")[0]["message_id"]
    assert invoke(config, "outbox", "retry", first, env=slack_env(site)).exit_code == 0
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 2  # one more try, then the new Retry-After holds the channel again
    assert "slack is held until" in invoke(config, "outbox", env=slack_env(site)).output


def test_requeue_lifts_the_hold_of_the_requeued_channels_only():
    with Store.memory() as store:
        store.save_message(message("m1", "alert"), [], ["slack"])
        store.hold_channel("slack", NOW + timedelta(minutes=10), "HTTP 429")
        store.hold_channel("email", NOW + timedelta(minutes=10), "451 busy")
        assert store.pending_deliveries(NOW, ["slack"]) == []
        assert store.requeue(NOW, "m1") == 1
        assert [h["channel"] for h in store.channel_holds(NOW)] == ["email"]
        assert [d.message_id for d in store.pending_deliveries(NOW, ["slack"])] == ["m1"]
