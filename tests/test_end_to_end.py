"""End to end through the real CLI: fixture feeds on loopback -> run --once -> hits in SQLite ->
alerts and digest in the outbox; repeat runs and restarts add nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import SITE, cli, outbox, wait_for

EXPECTED = yaml.safe_load((SITE / "expected.yaml").read_text(encoding="utf-8"))["items"]
GOOD_FEEDS = ["/feeds/northwire.xml", "/feeds/baltic-ledger.rdf", "/feeds/minsk-monitor.atom"]


def hits_by_path(config: Path, base: str) -> dict[str, set[str]]:
    result = cli(config, "hits", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    for row in rows:
        assert {"url", "title", "feed", "published", "rules", "story", "first_seen"} <= row.keys()
    return {row["url"].removeprefix(base): set(row["rules"]) for row in rows}


@pytest.fixture
def configured(site, write_config):
    feeds = [{"url": site.url(p), "name": p.split("/")[-1].split(".")[0]} for p in GOOD_FEEDS]
    feeds += [{"url": site.url("/feeds/not-a-feed.html"), "name": "not-a-feed"},
              {"url": site.url("/feeds/broken.xml"), "name": "broken"},
              {"url": "http://127.0.0.1:1/feed.xml", "name": "unreachable"}]
    return site, write_config(feeds)


def test_run_once_stores_the_right_hits_and_sends_alerts_and_digest(configured):
    site, config = configured
    first = cli(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    # every broken feed is reported by URL, and the cycle went on
    for bad in ("/feeds/not-a-feed.html", "/feeds/broken.xml", "127.0.0.1:1/feed.xml"):
        assert bad in first.stderr
    assert "not a feed" in first.stderr

    expected = {item["path"]: set(item["rules"]) for item in EXPECTED if item["rules"]}
    assert hits_by_path(config, site.base) == expected

    db = sqlite3.connect(config.parent / "state" / "monitor.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(EXPECTED)
    missing = next(i for i in EXPECTED if not i["page"])
    source = db.execute("SELECT text_source FROM articles WHERE url = ?", [site.url(missing["path"])]).fetchone()
    assert source == ("summary",)  # the page answered 404: its feed summary stood in
    assert site.hits_for(missing["path"]), "the missing page was requested"

    # the release reports alerted in this cycle, under belarus-prisoners
    alerts = outbox(config, "alert")
    assert len(alerts) == 2  # two different releases: one alert per story
    alerted = {item["url"].removeprefix(site.base) for alert in alerts for item in alert["items"]}
    assert alerted == {"/articles/northwire/belarus-frees-31.html",
                       "/articles/minsk-monitor/ru-lukashenko-pomiloval-18.html"}  # not the sentence report
    assert all("belarus-prisoners" in item["rules"] for alert in alerts for item in alert["items"])

    digest = cli(config, "digest")
    assert digest.returncode == 0, digest.stderr
    [message] = outbox(config, "digest")
    assert message["kind"] == "digest"
    by_topic = {rule: {u.removeprefix(site.base) for u in urls} for rule, urls in message["topics"].items()}
    wanted: dict[str, set[str]] = {}
    for path, rules in expected.items():
        for rule in rules:
            wanted.setdefault(rule, set()).add(path)
    assert by_topic == wanted
    for item in message["items"]:
        assert {"title", "url", "feed", "published", "rules", "story", "snippet"} <= item.keys()
        assert item["snippet"]
    # failing feeds are named in the digest, so they never die silently
    failing = {f["url"] for f in message["health"]["failing_feeds"]}
    assert site.url("/feeds/broken.xml") in failing

    # a second cycle and a second digest add nothing; hits are unchanged
    again = cli(config, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert "0 new articles" in again.stdout
    assert hits_by_path(config, site.base) == expected
    assert len(outbox(config, "alert")) == 2
    empty = cli(config, "digest", "--dry-run")
    assert "No new matching articles" in empty.stdout


def test_sidebar_headlines_match_nothing(configured):
    site, config = configured
    assert cli(config, "run", "--once").returncode == 0
    trap = "/articles/baltic-ledger/lithuania-september-heat-record.html"
    page = (SITE / trap.lstrip("/")).read_text(encoding="utf-8")
    assert "political prisoners" in page.lower()  # the sidebar carries the headline...
    assert trap not in hits_by_path(config, site.base)  # ...and it fires nothing


def test_service_polls_alerts_and_stops_on_sigterm(configured):
    site, config = configured
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert wait_for(lambda: len(outbox(config, "alert")) == 2, timeout=60), "no alerts from the service"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err and "stopped" in err
    # a restart after the service: nothing new, nothing re-sent
    again = cli(config, "run", "--once")
    assert "0 new articles" in again.stdout
    assert len(outbox(config, "alert")) == 2
