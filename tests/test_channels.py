"""Delivery through real servers on loopback: SMTP (aiosmtpd) gets one multipart mail, a Slack
webhook receiver gets one payload; a channel that is down is retried later, and nothing repeats."""

from __future__ import annotations

import email
import json
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from monitor.cli import main
from tests.helpers import make_due


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def invoke(config, *args, env=None):
    result = CliRunner().invoke(main, ["--config", str(config), *args], env=env or {}, catch_exceptions=False)
    return result


def feeds_of(site):
    return [{"url": site.url("/feeds/northwire.xml"), "name": "Northwire"},
            {"url": site.url("/feeds/minsk-monitor.atom"), "name": "Minsk Monitor"}]


def test_email_and_slack_each_get_the_alert_once(site, smtp, write_config):
    inbox, port = smtp
    site.route("/hooks/slack", (200, {"Content-Type": "text/plain"}, b"ok"))
    config = write_config(feeds_of(site), channels=[
        {"type": "file"},
        {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "monitor@example.org",
         "to": ["analyst@example.org"]},
        {"type": "slack"}])
    env = {"MONITOR_SLACK_WEBHOOK_URL": site.url("/hooks/slack")}
    assert invoke(config, "run", "--once", env=env).exit_code == 0
    assert invoke(config, "run", "--once", env=env).exit_code == 0  # nothing new: nothing re-sent

    # the site reports two different releases (31 and 18 freed): one alert for each story
    assert len(inbox.messages) == 2
    assert sorted(m["Subject"][:9] for m in inbox.messages) == ["18 freed:", "31 freed "]
    mail = next(m for m in inbox.messages if m["Subject"].startswith("31 freed"))
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert "\n" not in mail["Subject"]
    assert "political prisoners" in mail.get_body(("plain",)).get_content()
    assert "<a " in mail.get_body(("html",)).get_content()

    posts = [r for r in site.hits_for("/hooks/slack") if r.method == "POST"]
    assert len(posts) == 2
    payloads = [json.loads(p.body) for p in posts]
    assert any("31 freed" in p["text"] for p in payloads) and all(p["unfurl_links"] is False for p in payloads)
    assert all(p["blocks"][0]["type"] == "header" for p in payloads)


def test_a_channel_that_is_down_delivers_later_and_only_once(site, write_config):
    port = free_port()  # nothing listens here yet
    config = write_config(feeds_of(site), channels=[
        {"type": "file"},
        {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "m@example.org",
         "to": "a@example.org", "timeout": 5}])
    first = invoke(config, "run", "--once")
    assert first.exit_code == 0
    db_rows = _deliveries(config)
    assert db_rows[("alert", "file")] == ["sent", "sent"]  # two release stories, two alerts
    assert db_rows[("alert", "email")] == ["pending", "pending"]

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # the retry time is in the future: force it due, as the clock would (the down channel rested until then)
        make_due(config, release_holds=True)
        assert invoke(config, "run", "--once").exit_code == 0
        assert invoke(config, "run", "--once").exit_code == 0
    finally:
        controller.stop()
    assert len(inbox.messages) == 2
    assert _deliveries(config)[("alert", "email")] == ["sent", "sent"]


def test_feed_text_cannot_forge_headers_or_markup(site, smtp, write_config):
    inbox, port = smtp
    evil_title = "Belarus frees political prisoners\r\nBcc: victim@example.org <script>alert(1)</script> 2 < 3"
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><link>{site.base}/</link>
<item><title>{evil_title.replace('<', '&lt;').replace('>', '&gt;')}</title>
<link>{site.base}/evil.html</link><guid>evil-1</guid>
<description>Viasna says Minsk released the political prisoners; release confirmed.</description></item>
</channel></rss>""".encode()
    site.route("/evil.xml", (200, {"Content-Type": "application/rss+xml"}, feed))
    config = write_config([{"url": site.url("/evil.xml"), "name": "Evil <b>feed</b>"}], channels=[
        {"type": "file"},
        {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "m@example.org",
         "to": "a@example.org"}])
    assert invoke(config, "run", "--once").exit_code == 0
    [mail] = inbox.messages
    assert mail["Bcc"] is None and "\n" not in mail["Subject"]
    html = mail.get_body(("html",)).get_content()
    assert "<script" not in html  # tags in feed text are dropped, the rest escaped
    assert "2 &lt; 3" in html
    assert "<b>feed</b>" not in html and "Evil &lt;b&gt;feed&lt;/b&gt;" in html


def _deliveries(config) -> dict[tuple[str, str], str]:
    import sqlite3
    db = sqlite3.connect(config.parent / "state" / "monitor.db")
    found: dict[tuple[str, str], list[str]] = {}
    for kind, channel, status in db.execute("SELECT m.kind, d.channel, d.status FROM deliveries d "
                                            "JOIN messages m ON m.id = d.message_id ORDER BY d.rowid"):
        found.setdefault((kind, channel), []).append(status)
    return found
