"""Messages as the world receives them, over loopback: raw MIME from a real SMTP server (parts, headers,
threading), Slack Block Kit posts to a receiver that checks Slack's limits, outlet names from a feed's <title>
and an aggregator's <source> through the whole monitor, the stale-news guard both ways, and the preview and
channel-test commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner

from monitor.channels.email import EmailSender
from monitor.channels.slack import SlackSender
from monitor.cli import main
from monitor.config import EmailChannel, FetchConfig, SlackChannel
from monitor.digest import build_message
from monitor.fetch import Fetcher
from monitor.models import Delivery
from tests.helpers import invoke, outbox, rss_item, titled_rss
from tests.message_builders import LAYOUT, NOW, day, failing_feeds, release, within_slack_limits


def delivery(message, channel: str) -> Delivery:
    return Delivery(message_id=message.id, channel=channel, attempts=0, kind=message.kind, subject=message.subject,
                    text=message.text, html=message.html, data=message.data)


def test_email_raw_mime_parts_headers_and_threading(smtp_inbox):
    inbox, port = smtp_inbox
    channel = EmailChannel(type="email", host="127.0.0.1", port=port, tls="none", to=["desk@ngo.example"],
                           **{"from": "News Monitor <monitor@alerts.ngo.example>"})
    sender = EmailSender(channel, FetchConfig(allow_private_networks=True))  # the relay is on loopback
    alert = build_message("alert", [release(1, 52)], NOW, layout=LAYOUT)
    sender.send(delivery(alert, "email"))
    # the next digest carries a follow-up of that story: it answers the alert
    followup = release(7, 52, story="s1", followup=True, announced=alert.id)
    digest = build_message("digest", [followup, *day(20)[4:]], NOW + timedelta(hours=9), layout=LAYOUT)
    sender.send(delivery(digest, "email"))

    first, second = (message_from_bytes(raw, policy=policy.default) for raw in inbox.raw)
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    assert first["Subject"].startswith("52 freed — to Lithuania, via John Coale")
    assert first["X-Auto-Response-Suppress"] == "All" and first["Precedence"] == "bulk"
    assert first["Auto-Submitted"] == "auto-generated" and first["List-Id"] == (
        "news-monitor <news-monitor.alerts.ngo.example>")
    assert first["Message-ID"] == f"<{alert.id}.news-monitor@alerts.ngo.example>"
    assert first["In-Reply-To"] is None
    assert second["In-Reply-To"] == first["Message-ID"] and first["Message-ID"] in second["References"]
    # the text part carries every link of the HTML part
    text = second.get_body(("plain",)).get_content()
    html = second.get_body(("html",)).get_content()
    assert "<!doctype html>" in html.lower() and 'lang="en"' in html
    for url in (s["url"] for s in digest.data["stories"]):
        assert url in text
    raw = inbox.raw[0].decode("ascii")  # headers are 7-bit on the wire; non-ASCII subjects are RFC 2047-encoded
    assert "Subject: 52 freed" in raw


def test_slack_posts_of_a_500_article_digest_fit_slacks_limits(make_server):
    receiver = make_server(None)
    posts: list[dict] = []

    def hook(request):
        body = json.loads(request.body)
        posts.append(body)
        ok = within_slack_limits(body) and body.get("unfurl_links") is False
        # Slack answers 400 invalid_blocks to a payload past its limits
        return (200, {"Content-Type": "text/plain"}, b"ok") if ok else (400, {}, b"invalid_blocks")

    receiver.route("/services/T0/B0/x", hook)
    message = build_message("digest", day(500), NOW, health=failing_feeds(long_url=True), layout=LAYOUT)
    channel = SlackChannel(type="slack", webhook_url=receiver.url("/services/T0/B0/x"))
    SlackSender(channel, Fetcher(FetchConfig(allow_private_networks=True))).send(delivery(message, "slack"))
    assert 1 < len(posts) <= 5
    assert [p["blocks"][0]["text"]["text"][-5:] for p in posts] == [f"({n}/{len(posts)})" for n in
                                                                    range(1, len(posts) + 1)]
    listed = sum(len(s["stories"]) for s in message.data["sections"] if s["kind"] != "followups")
    shown = sum(1 for p in posts for b in p["blocks"] if b["type"] == "section" and b["text"]["text"].startswith("*<"))
    ending = posts[-1]["blocks"][-1]
    assert shown == listed or "more stor" in ending["elements"][0]["text"]  # never a silent cut


# -- through the whole monitor -------------------------------------------------------------------------------


def test_outlet_names_from_the_feed_title_and_the_aggregator_source(make_server, write_config, tmp_path):
    site = make_server(None)
    now = datetime.now(UTC)
    google = ('<source url="https://www.baltic-ledger.example/belarus">Baltic Ledger</source>')
    site.route("/herald.xml", (200, {"Content-Type": "application/rss+xml"}, titled_rss(
        "Hrodna Herald &amp; Co", [rss_item(site.base, 12, now - timedelta(hours=1))])))
    site.route("/news.xml", (200, {"Content-Type": "application/rss+xml"}, titled_rss(
        "Top stories - News", [rss_item(site.base, 27, now - timedelta(hours=2), google)])))
    site.route("/bare.xml", (200, {"Content-Type": "application/rss+xml"},
                             titled_rss(None, [rss_item(site.base, 33, now - timedelta(hours=3))])))
    config = write_config([{"url": site.url("/herald.xml")}, {"url": site.url("/news.xml")},
                           {"url": site.url("/bare.xml")}, ], digest={"timezone": "Europe/Vilnius"})
    assert invoke(config, "run", "--once").exit_code == 0
    feeds = {json.loads(line)["title"][:16]: json.loads(line)["feed"]
             for line in invoke(config, "hits", "--json").output.splitlines()}
    host = site.base.removeprefix("http://")
    assert feeds == {"Belarus frees 12": "Hrodna Herald & Co", "Belarus frees 27": "Baltic Ledger",
                     "Belarus frees 33": host}
    preview = tmp_path / "preview"
    result = invoke(config, "digest", "--preview", str(preview))
    assert result.exit_code == 0, result.output
    text = (preview / "digest.txt").read_text()
    assert "Baltic Ledger (baltic-ledger.example)" in text and "Hrodna Herald & Co (127.0.0.1)" in text
    assert "times in Europe/Vilnius" in text
    assert "Hrodna Herald &amp;amp; Co" in (preview / "digest.html").read_text() or \
        "Hrodna Herald &amp; Co" in (preview / "digest.html").read_text()
    slack = json.loads((preview / "digest.slack.json").read_text())
    assert slack[0]["blocks"][0]["type"] == "header" and "Baltic Ledger" in json.dumps(slack)
    data = json.loads((preview / "digest.json").read_text())
    assert {i["feed"] for i in data["items"]} == {"Hrodna Herald & Co", "Baltic Ledger", host}
    assert outbox(config, "digest") == []  # a preview sends and marks nothing
    assert invoke(config, "digest").exit_code == 0 and len(outbox(config, "digest")) == 1


@pytest.mark.parametrize("max_age, alerts", [(None, 1), ("off", 2)])
def test_stale_news_guard(make_server, write_config, max_age, alerts):
    site = make_server(None)
    now = datetime.now(UTC)
    items = [rss_item(site.base, 14, now - timedelta(hours=3)), rss_item(site.base, 52, now - timedelta(days=90))]
    site.route("/feed.xml", (200, {"Content-Type": "application/rss+xml"}, titled_rss("Vilnius Daily", items)))
    config = write_config([{"url": site.url("/feed.xml")}],
                          alerts={} if max_age is None else {"max_age": max_age})  # {}: the default, 2d
    assert invoke(config, "run", "--once").exit_code == 0
    sent = outbox(config, "alert")
    assert len(sent) == alerts
    subjects = sorted(m["subject"][:8] for m in sent)
    assert subjects == (["14 freed"] if alerts == 1 else ["14 freed", "52 freed"])
    assert invoke(config, "digest").exit_code == 0
    [digest] = outbox(config, "digest")
    assert {s["title"][:16] for s in digest["stories"]} == {"Belarus frees 14", "Belarus frees 52"}
    if alerts == 1:  # the old report is in the digest, and the log says why it did not alert
        assert any("alerts.max_age" in s["reason"] for s in digest["suppressed"])


def test_channels_test_reports_each_answer(make_server, write_config, smtp_inbox):
    inbox, port = smtp_inbox
    site = make_server(None)
    site.route("/hook", (200, {"Content-Type": "text/plain"}, b"ok"))
    config = write_config([], channels=[
        {"type": "file"},
        {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "m@ngo.example",
         "to": "a@ngo.example"},
        {"type": "slack"}, {"type": "slack", "name": "broken", "webhook_url_env": "BROKEN_HOOK"}])
    env = {"MONITOR_SLACK_WEBHOOK_URL": site.url("/hook"), "BROKEN_HOOK": site.url("/missing")}
    result = CliRunner().invoke(main, ["--config", str(config), "channels", "test"], env=env)
    assert result.exit_code == 1  # one channel failed
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert lines["file"].startswith("ok") and lines["email"].startswith("ok") and lines["slack"].startswith("ok")
    assert lines["broken"].startswith("FAILED") and "404" in lines["broken"]
    assert len(inbox.raw) == 1 and b"test message" in inbox.raw[0]
    one = CliRunner().invoke(main, ["--config", str(config), "channels", "test", "email"], env=env)
    assert one.exit_code == 0 and one.output.startswith("email: ok") and len(inbox.raw) == 2


def test_a_hand_run_digest_with_a_bad_rule_edit_names_it_and_keeps_the_headings(make_server, write_config, tmp_path):
    """Seen on loopback: after a rule file was edited badly, `digest` went out with rule names for headings and no
    word of the edit. Now its health section names the edit not applied, and the headings are the descriptions
    of the rules as they last loaded."""
    site = make_server(None)
    now = datetime.now(UTC)
    zapad = (f"<item><title>Zapad drills bring troops close to the Lithuanian border</title><guid>z-1</guid>"
             f"<link>{site.base}/news/zapad</link><pubDate>{now - timedelta(hours=2):%a, %d %b %Y %H:%M:%S} +0000"
             "</pubDate><description>The Zapad exercise of Russia and Belarus moved armoured columns within 20 km "
             "of the Lithuanian border near Hrodna, officials said.</description></item>")
    site.route("/feed.xml", (200, {"Content-Type": "application/rss+xml"},
                             titled_rss("Vilnius Daily", [rss_item(site.base, 14, now - timedelta(hours=3)), zapad])))
    config = write_config([{"url": site.url("/feed.xml")}], digest={"timezone": "Europe/Vilnius"})
    assert invoke(config, "run", "--once").exit_code == 0  # the rules load, and their descriptions are kept
    rule = tmp_path / "rules" / "belarus-prisoners.yaml"
    good_rule = rule.read_text(encoding="utf-8")
    rule.write_text(good_rule.replace("query: |", "query: |\n  (Belarus AND", 1), encoding="utf-8")
    result = invoke(config, "digest", "--preview", str(tmp_path / "bad"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "bad" / "digest.txt").read_text()
    assert "1 rule edit not applied" in text.splitlines()[0]
    assert f"{rule}:" in text and text.index("not applied") < text.index("== Releases")
    assert "== The Zapad strategic military exercise of Russia and Belarus (e.g. Zapad-2025) ==" in text
    assert "== zapad" not in text
    data = json.loads((tmp_path / "bad" / "digest.json").read_text())
    assert [e.split(":")[0] for e in data["health"]["rule_errors"]] == [str(rule)]
    # and the digest sent by hand says the same
    assert invoke(config, "digest").exit_code == 0
    [sent] = outbox(config, "digest")
    assert sent["health"]["rule_errors"] == data["health"]["rule_errors"]
