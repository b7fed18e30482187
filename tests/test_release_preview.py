"""`news-monitor releases --preview DIR [STORY]`: a release alert seen before it is sent - the alert of the newest
release (or of one release story), as each channel would get it (email HTML and text, Slack posts, chat markdown,
outbox JSON), through the whole monitor over loopback; nothing sent, queued or marked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.helpers import db, invoke, outbox, rss_item, titled_rss


def counts(config) -> tuple[int, int, int]:
    """Messages, deliveries and outbox files: what a preview must not change."""
    conn = db(config)
    messages, deliveries = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("messages", "deliveries"))
    folder = config.parent / "state" / "outbox"
    return messages, deliveries, len(list(folder.glob("*"))) if folder.exists() else 0


def test_release_alert_preview_writes_every_rendering_and_sends_nothing(make_server, write_config, tmp_path):
    site = make_server(None)
    now = datetime.now(UTC)
    old = rss_item(site.base, 52, now - timedelta(days=90))  # held back by the stale-news guard: no alert sent
    site.route("/feed.xml", (200, {"Content-Type": "application/rss+xml"}, titled_rss(
        "Vilnius Daily &amp; Co", [rss_item(site.base, 14, now - timedelta(hours=3)), old])))
    config = write_config([{"url": site.url("/feed.xml")}], alerts={}, digest={"timezone": "Europe/Vilnius"})
    preview = tmp_path / "preview"
    nothing = invoke(config, "releases", "--preview", str(preview))  # no database, no release yet
    assert nothing.exit_code != 0 and "no releases recorded yet" in nothing.output
    assert invoke(config, "run", "--once").exit_code == 0
    [sent] = outbox(config, "alert")
    ledger = {json.loads(line)["number"]: json.loads(line)
              for line in invoke(config, "releases", "--json").output.splitlines()}
    before = counts(config)

    # the newest release: the one that alerted, rendered as it was sent
    result = invoke(config, "releases", "--preview", str(preview))
    assert result.exit_code == 0, result.output
    assert f"alert preview of story {ledger[14]['story']}: 14 freed" in result.output
    names = sorted(p.name for p in preview.iterdir())
    assert names == ["alert.html", "alert.json", "alert.md", "alert.slack.json", "alert.txt"]
    data = json.loads((preview / "alert.json").read_text())
    assert data["kind"] == "alert" and data["subject"] == sent["subject"]
    assert [i["url"] for i in data["items"]] == [i["url"] for i in sent["items"]]
    assert data["subject"].startswith("14 freed") and "Europe/Vilnius" in (preview / "alert.txt").read_text()
    html = (preview / "alert.html").read_text()
    assert "Vilnius Daily &amp; Co" in html and "Vilnius Daily & Co" not in html  # feed text escaped
    slack = json.loads((preview / "alert.slack.json").read_text())
    assert slack[0]["blocks"][0]["type"] == "header" and "14 freed" in slack[0]["blocks"][0]["text"]["text"]
    assert "Vilnius Daily \\& Co" in (preview / "alert.md").read_text()  # CommonMark-escaped for chat
    assert counts(config) == before  # nothing sent, queued or marked

    # a release that raised no alert (too old): previewed all the same, and the command says why it is different
    held = invoke(config, "releases", "--preview", str(tmp_path / "held"), str(ledger[52]["story"]))
    assert held.exit_code == 0, held.output
    assert "raised no alert" in held.output
    assert json.loads((tmp_path / "held" / "alert.json").read_text())["subject"].startswith("52 freed")
    assert counts(config) == before and len(outbox(config, "alert")) == 1

    unknown = invoke(config, "releases", "--preview", str(tmp_path / "x"), "999999")
    assert unknown.exit_code != 0 and "no story 999999" in unknown.output
    assert invoke(config, "releases", "12").exit_code == 2  # STORY goes with --preview
