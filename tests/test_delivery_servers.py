"""Delivery failures against real servers on loopback: an SMTP server that refuses one recipient, or
all; a webhook that answers 404/410, 429 with Retry-After, 503; a server that accepts and never
answers; a hand-run digest beside the running service. Each was a silent loss, an endless retry or
a duplicate before (issue 9, items 6-10)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from monitor.channels.slack import SlackSender
from monitor.config import DeliveryConfig, FetchConfig, SlackChannel
from monitor.courier import Courier
from monitor.digest import build_message
from monitor.fetch import Fetcher
from monitor.lock import instance_lock
from monitor.store import Store
from tests.helpers import SLACK, db, deliveries, feeds_of, invoke, make_due, slack_env, wait_for
from tests.message_builders import LAYOUT, NOW, day
from tests.servers import HungServer, ScriptedInbox, WebhookScript, free_port, smtp_server


def email_channel(port, to, **extra):
    return {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "monitor@example.org",
            "to": to, "timeout": 5, **extra}


def outbox_json(config, env=None) -> list[dict]:
    return [json.loads(line) for line in invoke(config, "outbox", "--json", env=env).output.splitlines()
            if line.strip()]


def file_digest(config) -> dict:
    (path,) = (config.parent / "state" / "outbox").glob("*-digest-*.json")
    return json.loads(path.read_text(encoding="utf-8"))


# -- 6. a recipient refused at RCPT ---------------------------------------------------------------------

def test_a_recipient_refused_at_rcpt_is_a_failed_delivery_for_that_recipient(site, write_config):
    inbox = ScriptedInbox(refuse={"gone@example.org": "550 5.1.1 <gone@example.org>: no such user"})
    with smtp_server(inbox) as port:
        config = write_config(feeds_of(site), channels=[
            {"type": "file"}, email_channel(port, ["analyst@example.org", "gone@example.org"])])
        assert invoke(config, "run", "--once").exit_code == 0
        alerts = deliveries(config, "email")
        assert alerts and len(inbox.to("analyst@example.org")) == len(alerts) and inbox.to("gone@example.org") == []
        for row in alerts:
            assert row["status"] == "pending"  # not "sent": one recipient does not have it
            recipients = json.loads(row["recipients"])
            assert recipients["analyst@example.org"]["status"] == "sent"
            assert recipients["gone@example.org"]["status"] == "pending"
            assert "gone@example.org: refused: 550" in row["last_error"]
        status = invoke(config, "status").output
        assert "gone@example.org: refused: 550" in status and "retrying" in status

        make_due(config)  # the retry goes to the refused recipient only, and a second 550 is final
        assert invoke(config, "run", "--once").exit_code == 0
        assert inbox.rcpt_asked.count("analyst@example.org") == len(alerts)
        assert inbox.rcpt_asked.count("gone@example.org") == 2 * len(alerts)
        assert len(inbox.to("analyst@example.org")) == len(alerts)
        for row in deliveries(config, "email"):
            assert row["status"] == "dead" and "gone@example.org: refused: 550" in row["reason"]
            assert "delivered to analyst@example.org" in row["reason"]
        status = invoke(config, "status").output
        assert f"deliveries dead: {len(alerts)}" in status and "gone@example.org" in status

        # the next digest says so, on the channels that work (the file outbox here)
        assert invoke(config, "digest").exit_code == 0
        undelivered = file_digest(config)["health"]["undelivered"]
        assert [(u["channel"], u["state"], u["kind"]) for u in undelivered] == [("email", "dead", "alert")] * len(
            alerts)
        assert all("gone@example.org: refused: 550" in u["reason"] for u in undelivered)
        digest_mail = inbox.to("analyst@example.org")[-1]
        assert "gone@example.org: refused: 550" in digest_mail.get_body(("plain",)).get_content()
        # reported once: the digest after it does not repeat it (`outbox` still lists it)
        second = invoke(config, "digest")
        assert second.exit_code == 0
        (latest,) = (config.parent / "state" / "outbox").glob(f"*-digest-{second.output.split()[1].rstrip(':')}.json")
        assert all(u["kind"] != "alert" for u in json.loads(latest.read_text())["health"]["undelivered"])


# -- 7. permanent failures end, and retries end ----------------------------------------------------------

@pytest.mark.parametrize("status, body", [(404, b"no_service"), (410, b"channel_is_archived")])
def test_a_webhook_that_refuses_for_good_is_dead_after_one_retry_and_says_its_status(site, write_config,
                                                                                    status, body):
    hook = WebhookScript((status, {"Content-Type": "text/plain"}, body))
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "file"}, {"type": "slack"}])
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    alerts = len(deliveries(config, "slack"))
    assert alerts and len(hook.posts) == alerts  # a refusal of one message does not stop the others
    for row in deliveries(config, "slack"):
        assert row["status"] == "pending" and row["failure"] == "permanent"
        assert row["last_error"] == f"slack: 127.0.0.1: HTTP {status}: {body.decode()}"

    make_due(config)
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    make_due(config)
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 2 * alerts  # one retry each, then no more
    for row in deliveries(config, "slack"):
        assert row["status"] == "dead" and f"HTTP {status}: {body.decode()}" in row["reason"]
    listed = outbox_json(config, slack_env(site))
    assert {(x["channel"], x["state"], x["kind"]) for x in listed} == {("slack", "dead", "alert")}
    assert len(listed) == alerts
    assert f"HTTP {status}" in invoke(config, "outbox", env=slack_env(site)).output
    assert f"deliveries dead: {alerts}" in invoke(config, "status", env=slack_env(site)).output

    # fixed on Slack's side: `outbox retry` queues them again and the next round delivers each, once
    hook.answers = [(200, {"Content-Type": "text/plain"}, b"ok")]
    result = invoke(config, "outbox", "retry", "--all-dead", env=slack_env(site))
    assert result.exit_code == 0 and f"{alerts} deliver" in result.output
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 3 * alerts and {r["status"] for r in deliveries(config, "slack")} == {"sent"}
    assert outbox_json(config, slack_env(site)) == []


def refuse_login(server, session, envelope, mechanism, auth_data):  # aiosmtpd's authenticator hook
    return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8


@pytest.mark.parametrize("auth, reason", [("refused", "SMTPAuthenticationError: 535 5.7.8"),
                                          ("not offered", "SMTPNotSupportedError: SMTP AUTH extension not supported")])
def test_a_login_the_server_refuses_is_dead_after_one_retry(site, write_config, auth, reason):
    """A wrong password (535) or a server without AUTH where the config logs in: the config's to fix, not a
    failure that passes. Retried once (the password may have just been changed), then dead with the reason."""
    inbox = ScriptedInbox()
    extra = ({"auth_require_tls": False, "authenticator": refuse_login} if auth == "refused" else {})
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **extra)
    controller.start()
    try:
        env = {"MONITOR_SMTP_PASSWORD": "wrong"}
        config = write_config(feeds_of(site), channels=[
            {"type": "file"}, email_channel(controller.port, "a@example.org", user="monitor")])
        assert invoke(config, "run", "--once", env=env).exit_code == 0
        alerts = deliveries(config, "email")
        assert len(alerts) > 1 and all(r["failure"] == "permanent" and r["status"] == "pending" for r in alerts)
        assert reason in alerts[0]["last_error"]
        make_due(config, release_holds=True)  # the channel refuses them all alike: one retry, and all are dead
        assert invoke(config, "run", "--once", env=env).exit_code == 0
        assert {r["status"] for r in deliveries(config, "email")} == {"dead"} and inbox.mails == []
        assert all(reason in r["reason"] for r in deliveries(config, "email"))
        assert f"deliveries dead: {len(alerts)}" in invoke(config, "status", env=env).output
    finally:
        controller.stop()


def test_outbox_retry_by_message_id_and_its_mistakes(site, write_config):
    hook = WebhookScript((403, {}, b"invalid_token"))
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "slack"}])
    for _ in range(2):
        assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
        make_due(config)
    row = deliveries(config, "slack")[0]
    assert row["status"] == "dead"
    assert invoke(config, "outbox", "retry", env=slack_env(site)).exit_code == 2  # neither ID nor --all-dead
    assert invoke(config, "outbox", "retry", "nosuchid", env=slack_env(site)).exit_code == 1
    retried = invoke(config, "outbox", "retry", row["message_id"], env=slack_env(site))
    assert retried.exit_code == 0 and "no service is running: `news-monitor run --once`" in retried.output
    assert [r["status"] for r in deliveries(config, "slack") if r["message_id"] == row["message_id"]] == ["pending"]
    assert all(r["status"] == "dead" for r in deliveries(config, "slack") if r["message_id"] != row["message_id"])


def test_retries_end_after_give_up_after(site, write_config):
    port = free_port()  # nothing listens: a temporary failure, retried with backoff
    config = write_config(feeds_of(site), channels=[{"type": "file"}, email_channel(port, "a@example.org")],
                          delivery={"give_up_after": "2h"})
    assert invoke(config, "run", "--once").exit_code == 0
    row = deliveries(config, "email")[0]
    assert row["status"] == "pending" and row["failure"] == "temporary"
    # the backoff never schedules a retry past the give-up moment
    assert row["next_attempt"] <= (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

    conn = db(config)  # three hours pass
    conn.execute("UPDATE deliveries SET queued = ?, next_attempt = '2000-01-01T00:00:00Z'",
                 [(datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")])
    conn.commit()
    assert invoke(config, "run", "--once").exit_code == 0
    for row in deliveries(config, "email"):
        assert row["status"] == "dead"
        assert row["reason"].startswith("gave up: not delivered within 2h")
    assert "last error: email: 127.0.0.1:" in deliveries(config, "email")[0]["reason"]


# -- 8. Retry-After, and a channel that is down rests for the round --------------------------------------

@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_holds_the_channel_and_nothing_more_is_posted_that_round(site, write_config, form):
    later = datetime.now(UTC) + timedelta(seconds=600)
    value = "600" if form == "seconds" else format_datetime(later, usegmt=True)
    hook = WebhookScript((429, {"Retry-After": value, "Content-Type": "text/plain"}, b"rate_limited"))
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "file"}, {"type": "slack"}])
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 1  # the others due this round are not posted
    row = deliveries(config, "slack")[0]
    assert row["failure"] == "temporary" and "HTTP 429: rate_limited" in row["last_error"]
    floor = (datetime.now(UTC) + timedelta(seconds=590)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["next_attempt"] >= floor
    (hold,) = db(config).execute("SELECT until FROM channel_holds WHERE channel = 'slack'").fetchall()
    assert hold[0] >= floor

    # a new message while the hold lasts is not posted either, even once its own retry time has come
    assert invoke(config, "digest", env=slack_env(site)).exit_code == 0
    make_due(config)
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 1
    assert "slack is held until" in invoke(config, "outbox", env=slack_env(site)).output

    # the hold over, two messages are due: the first 429 ends the round for the channel
    make_due(config, release_holds=True)
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 2


def test_a_webhook_answering_503_is_tried_once_per_round(site, write_config):
    hook = WebhookScript((503, {"Content-Type": "text/plain"}, b"upstream down"))
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "file"}, {"type": "slack"}])
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 1  # several alerts due, one tried
    # the channel is down: a message queued meanwhile waits too, until the failed one's retry (at most 5 min)
    assert invoke(config, "digest", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 1
    (hold,) = db(config).execute("SELECT until, reason FROM channel_holds WHERE channel = 'slack'").fetchall()
    assert hold[1] == "slack: 127.0.0.1: HTTP 503: upstream down"
    assert hold[0] <= (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "channel slack is held until" in invoke(config, "outbox", env=slack_env(site)).output
    make_due(config, release_holds=True)  # the retry time has come
    assert invoke(config, "run", "--once", env=slack_env(site)).exit_code == 0
    assert len(hook.posts) == 2  # several due, one tried
    slack = deliveries(config, "slack")
    assert len(slack) >= 2 and {r["status"] for r in slack} == {"pending"}
    assert all(r["next_attempt"] > "2001" for r in slack)  # all wait as long as the one that failed


# -- 10. a server that accepts and never answers ---------------------------------------------------------

def test_a_hung_mail_server_is_tried_once_per_round(site, write_config):
    hung = HungServer()
    try:
        config = write_config(feeds_of(site), channels=[{"type": "file"}, email_channel(hung.port, "a@example.org",
                                                                                        timeout=1)])
        assert invoke(config, "run", "--once").exit_code == 0
        assert len(hung.connections) == 1  # several alerts due: the first timeout ends the channel's round
        assert invoke(config, "digest").exit_code == 0
        assert len(hung.connections) == 1  # and the channel rests: a new message waits for the retry time
        make_due(config, release_holds=True)
        assert invoke(config, "run", "--once").exit_code == 0
        assert len(hung.connections) == 2  # all due again: one timeout, and the round is over for the channel
        assert "no answer within 1s" in deliveries(config, "email")[0]["last_error"]
        assert {r["status"] for r in deliveries(config, "file")} == {"sent"}  # the other channels are not held up
    finally:
        hung.close()


def test_a_round_budget_cuts_a_slow_channel_short(site, write_config):
    hung = HungServer()  # the per-operation timeout is long; the round's budget is shorter
    try:
        config = write_config(feeds_of(site), channels=[{"type": "file"}, email_channel(hung.port, "a@example.org",
                                                                                        timeout=600)],
                              delivery={"round_budget": "2s"})
        assert invoke(config, "run", "--once").exit_code == 0
        row = deliveries(config, "email")[0]
        assert row["status"] == "pending" and "the round's time budget ran out" in row["last_error"]
    finally:
        hung.close()


class Service:
    """`news-monitor run` as a subprocess, its stderr collected line by line."""

    def __init__(self, config, env=None):
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def saw(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def test_a_hung_mail_server_does_not_hold_up_polling_or_the_other_channels(site, write_config):
    """The real service, a mail server that accepts and never speaks, listed before the file outbox: polls go on
    every tick while the mail hangs (counted), and the file outbox gets the alerts and a later digest meanwhile
    (each channel has a delivery thread of its own; before, the file channel waited for the mail's timeout or the
    round's budget)."""
    hung = HungServer()
    service = None
    try:
        # a mail timeout far longer than the test waits: only separate threads let the polls and the file go on
        feeds = [{**feed, "interval": "1s"} for feed in feeds_of(site)]
        config = write_config(feeds, channels=[email_channel(hung.port, "a@example.org", timeout=300),
                                               {"type": "file"}], service={"tick": "1s"})
        service = Service(config)
        assert wait_for(lambda: hung.open_connections >= 1, timeout=60), "".join(service.lines)
        polls = lambda: sum("cycle: 2 feeds polled" in line for line in service.lines)  # noqa: E731
        seen = polls()
        assert wait_for(lambda: polls() >= seen + 3, timeout=60), "".join(service.lines)
        outbox = config.parent / "state" / "outbox"
        assert wait_for(lambda: list(outbox.glob("*-alert-*.json")), timeout=30)
        # a message queued later (a digest, handed to the service) reaches the file outbox too: each channel has
        # its own delivery thread, so the next file round does not wait for the mail's round to end
        result = invoke(config, "digest")
        assert result.exit_code == 0 and "  file: sent" in result.output, result.output
        assert "email: sending" in result.output or "email: pending" in result.output, result.output
        assert list(outbox.glob("*-digest-*.json"))
        assert hung.open_connections == 1  # all the while, the mail is still hanging
    finally:
        if service is not None:
            service.stop()
        hung.close()


# -- 9. a hand-run digest beside the service -------------------------------------------------------------

def test_a_hand_run_digest_beside_the_service_is_handed_to_it_and_nothing_goes_out_twice(site, write_config):
    """The alerts wait in the queue (Slack was down) when `digest` is run by hand beside `news-monitor run`: the
    digest is handed to the service, which builds it and is the only process that sends, so each alert and the
    digest reach Slack once; the command says so. Before, the hand-run digest sent the queued alerts itself
    while the service sent them too."""
    ok = (200, {"Content-Type": "text/plain"}, b"ok")
    hook = WebhookScript((503, {}, b"down"), ok)
    site.route(SLACK, hook)
    config = write_config(feeds_of(site), channels=[{"type": "file"}, {"type": "slack"}],
                          retention={"delivered_messages": "30d"})
    service = Service(config, env=slack_env(site))
    try:
        assert wait_for(lambda: len(hook.posts) == 1, timeout=60), "".join(service.lines)
        # the round is over (the hold and the others' retry time written) before the clock is moved on
        assert wait_for(lambda: service.saw("delivery to slack:"), timeout=60), "".join(service.lines)
        alerts = len(deliveries(config, "slack"))
        assert alerts > 1
        make_due(config, release_holds=True)  # Slack is back; every alert is due at once
        result = invoke(config, "digest", env=slack_env(site))
        assert result.exit_code == 0, result.output
        assert f"handed to the running service (pid {service.proc.pid})" in result.output
        assert "  slack: sent" in result.output and "  file: sent" in result.output
        (pid,) = db(config).execute("SELECT pid FROM heartbeats WHERE job = 'digest'").fetchone()
        assert pid == service.proc.pid  # built by the service, not by this process
        assert wait_for(lambda: {r["status"] for r in deliveries(config, "slack")} == {"sent"}, timeout=60)
        assert len(hook.posts) == 1 + alerts + 1  # the refused post, then each alert and the digest once
        assert len(set(hook.posts)) == alerts + 1
        pruned = invoke(config, "prune", env=slack_env(site))
        assert pruned.exit_code == 0 and f"handed to the running service (pid {service.proc.pid})" in pruned.output
        assert service.saw("a hand-run `news-monitor prune`")
        tested = invoke(config, "channels", "test", "file", env=slack_env(site))
        assert tested.exit_code == 0 and "this sends only a test message to each channel, beside it" in tested.output
        # `outbox retry` only queues again, and says who sends: here the service
        conn = db(config)
        conn.execute("UPDATE deliveries SET status = 'dead', reason = 'test' WHERE channel = 'slack' AND message_id = "
                     "(SELECT min(message_id) FROM deliveries WHERE channel = 'slack')")
        conn.commit()
        (dead,) = [r["message_id"] for r in deliveries(config, "slack") if r["status"] == "dead"]
        retried = invoke(config, "outbox", "retry", dead, env=slack_env(site))
        assert retried.exit_code == 0
        assert f"the running service (pid {service.proc.pid}) sends them" in retried.output
        assert wait_for(lambda: {r["status"] for r in deliveries(config, "slack")} == {"sent"}, timeout=60)
        assert len(hook.posts) == 1 + alerts + 1 + 1
    finally:
        service.stop()


def test_a_hand_run_digest_beside_a_run_once_is_refused_and_says_why(site, write_config):
    """Only the service takes requests: a `run --once` (here, anything holding the lock that is not the service)
    makes a hand-run digest or prune wait for it to end: refused, exit 3, with why."""
    config = write_config(feeds_of(site), retention={"delivered_messages": "30d"})
    with instance_lock(config.parent / "state"):
        for command in ("digest", "prune"):
            result = invoke(config, command)
            assert result.exit_code == 3
            assert "another news-monitor is running" in result.output and "not the service" in result.output
        assert invoke(config, "digest", "--dry-run").exit_code == 0  # reading is fine
        assert invoke(config, "prune", "--dry-run").exit_code == 0


# -- a long Slack message part-way through --------------------------------------------------------------

def test_a_long_slack_message_cut_off_part_way_sends_only_the_rest_on_retry(site):
    ok = (200, {"Content-Type": "text/plain"}, b"ok")
    hook = WebhookScript(ok, (429, {"Retry-After": "0"}, b"rate_limited"), ok)  # Slack allows short bursts only
    site.route(SLACK, hook)
    message = build_message("digest", day(500), NOW, layout=LAYOUT)
    sender = SlackSender(SlackChannel(type="slack", webhook_url=site.url(SLACK)),
                         Fetcher(FetchConfig(allow_private_networks=True)))
    with Store.memory() as store:
        store.save_message(message, [], ["slack"])
        courier = Courier([sender], DeliveryConfig(), lambda: NOW)
        first = courier.run(store)
        assert first.delivered == 0 and len(hook.posts) == 2
        (row,) = store.unsent_deliveries()
        assert row["recipients"] == {"slack posts": {"status": "sent", "count": 1}}
        assert courier.run(store).delivered == 1
        assert store.unsent_deliveries() == []
    parts = [json.loads(p)["blocks"][0]["text"]["text"] for p in hook.posts]
    assert len(parts) > 3 and parts[1] == parts[2]  # the refused post again, and only it
    assert len(set(parts)) == len(parts) - 1  # every other post once
