"""`news-monitor browse`: Datasette started as a real process on loopback, on a database the project's store
wrote; the canned queries' JSON holds those rows (outlets by name), the service's later writes show up while
it runs (a read-only connection, not an immutable snapshot), and what must be refused is."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.cli.browse import is_loopback
from monitor.models import Article, Feed, FeedItem, Hit, Message
from monitor.polling import PollDecision
from monitor.store import Store

pytest.importorskip("datasette")  # the [browse] extra; the test extra installs it, so CI runs this

NOW = datetime.now(UTC).replace(microsecond=0)  # "today" is the real day: the canned query asks SQLite's clock
RULE = "belarus_political_prisoners"


def article(n: int, outlet: str, title: str, text: str, feed: str = "https://wire.example/feed") -> Article:
    item = FeedItem(feed_url=feed, feed_name="Aggregator", guid=f"g-{n}", url=f"https://news.example/{n}",
                    title=title, summary="", published=None, source_name=outlet,
                    source_url=f"https://{outlet.lower().replace(' ', '')}.example/")
    return Article(item=item, title=title, text=text, text_source="page", language="en")


def hit(snippet: str) -> Hit:
    return Hit(rule=RULE, evidence=(), alert=False, snippet=snippet)


def fill(store: Store) -> int:
    """Our own sentences, stored as the pipeline stores them: a story of two outlets and a syndicated copy,
    with release facts; an older hit; a failing feed; a dead delivery."""
    facts = {"number": 14, "names": ["Ihar Losik"], "date": NOW.date().isoformat(), "destination": "Lithuania",
             "broker": "John Coale", "language": "en"}
    first = store.add_article(article(1, "Nasha Niva", "Minsk frees fourteen political prisoners",
                                      "Fourteen political prisoners were released and taken to Lithuania."),
                              "g-1", "u-1", [hit("Fourteen [political prisoners] were released")], NOW, facts=facts)
    store.add_article(article(2, "Радыё Свабода", "Вызвалены 14 палітвязняў", "Чатырнаццаць палітвязняў вызвалены."),
                      "g-2", "u-2", [hit("14 [палітвязняў]")], NOW + timedelta(seconds=5), story=first,
                      facts={**facts, "names": ["Ігар Лосік"]})
    store.add_source(first, article(3, "Wire Copy Desk", "Minsk frees fourteen political prisoners", ""),
                     "g-3", "u-3", NOW + timedelta(seconds=9), "the same text")
    store.add_article(article(4, "Old Desk", "Older report on prisoners", "An older report."), "g-4", "u-4",
                      [hit("older")], NOW - timedelta(days=3))
    store.sync_feeds([Feed("https://wire.example/feed", "Wire", 900), Feed("https://gone.example/rss", "Gone", 900)])
    store.record_poll("https://gone.example/rss", NOW, PollDecision(ok=False, next_check=NOW + timedelta(hours=1),
                                                                    error="HTTP 503 Service Unavailable"))
    message = Message(id="m-1", kind="digest", created="2026-03-01T08:00:00Z", items=(), subject="Digest: 3 stories",
                      text="t", html="h")
    store.save_message(message, [], ["slack"])
    store.record_failure("m-1", "slack", status="dead", error="invalid_auth", failure="permanent", next_attempt=None)
    return first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def browsing(write_config, tmp_path):
    config = write_config([])
    with Store.open(tmp_path / "state" / "monitor.db") as store:
        fill(store)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "browse", "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a wait for start-up on a busy machine, not a speed assertion
    try:
        while True:
            try:
                get(f"{base}/-/versions.json")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"browse did not start: {process.communicate()[0].decode(errors='replace')}")
                time.sleep(0.2)
        yield base, tmp_path / "state" / "monitor.db"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_canned_queries_serve_what_the_store_wrote(browsing):
    base, path = browsing
    today = get(f"{base}/monitor/todays_hits.json?_shape=array")
    assert [(r["topic"], r["title"], r["outlet"]) for r in today] == [
        (RULE, "Вызвалены 14 палітвязняў", "Радыё Свабода"),
        (RULE, "Minsk frees fourteen political prisoners", "Nasha Niva")]  # not the older hit
    assert today[1]["url"] == "https://news.example/1" and today[1]["sent_in"] == "pending"

    stories = get(f"{base}/monitor/stories.json?_shape=array")
    story = next(s for s in stories if s["title"] == "Minsk frees fourteen political prisoners")
    assert story["outlets"] == "Nasha Niva, Радыё Свабода, Wire Copy Desk"  # names, not hosts; the copy last
    assert story["reports"] == 3 and story["topics"] == RULE

    ledger = get(f"{base}/monitor/release_ledger.json?_shape=array")
    assert len(ledger) == 1
    assert {k: ledger[0][k] for k in ("number", "destination", "broker", "reports")} == {
        "number": 14, "destination": "Lithuania", "broker": "John Coale", "reports": 3}
    assert set(ledger[0]["names"].split(",")) == {"Ihar Losik", "Ігар Лосік"}

    health = get(f"{base}/monitor/feed_health.json?_shape=array")
    assert [(f["name"], f["state"], f["errors_in_a_row"]) for f in health] == [("Gone", "failing", 1),
                                                                               ("Wire", "ok", 0)]
    assert health[0]["last_error"] == "HTTP 503 Service Unavailable"

    dead = get(f"{base}/monitor/dead_deliveries.json?_shape=array")
    assert [(d["message_id"], d["channel"], d["reason"]) for d in dead] == [("m-1", "slack", "invalid_auth")]

    # read-only on the live file: Datasette does not take it as immutable, so the service's next commit shows
    assert get(f"{base}/-/databases.json")[0]["is_mutable"] is True
    with Store.open(path) as store:
        store.add_article(article(5, "Belsat", "Another prisoner freed", "One more political prisoner freed."),
                          "g-5", "u-5", [hit("one more")], NOW + timedelta(seconds=20))
    assert len(get(f"{base}/monitor/todays_hits.json?_shape=array")) == 3
    with pytest.raises(urllib.error.HTTPError):  # and nothing writes through it
        get(f"{base}/monitor.json?sql=DELETE+FROM+hits")
    with Store.open(path) as store:
        assert store.counts()["hits"] == 4


def test_non_loopback_needs_asking_and_a_missing_datasette_says_how_to_install(write_config, tmp_path):
    config = write_config([])
    refused = CliRunner().invoke(main, ["--config", str(config), "browse", "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "--allow-remote" in refused.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    with Store.open(tmp_path / "state" / "monitor.db"):
        pass
    hidden = subprocess.run(  # an environment without the extra: importing datasette fails there
        [sys.executable, "-c", "import sys; sys.modules['datasette'] = None; from monitor.cli import main; main()",
         "--config", str(config), "browse"], capture_output=True, text=True, timeout=120)
    assert hidden.returncode == 1 and "pip install 'news-monitor[browse]'" in hidden.stderr
