"""Polling that needs no babysitting: the pure decisions (backoff, Retry-After, 304, identical bodies,
daily full fetch, 410) and the same behaviour end to end against a loopback server."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from monitor import polling
from monitor.cli import main
from monitor.polling import FeedState, Seen, decide
from monitor.store import Store
from tests.helpers import cycle, rss

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STATE = FeedState(url="https://x.test/feed", name="x", fetch_url="https://x.test/feed", etag='"e"',
                  last_modified="lm", body_hash=polling.body_hash(b"same"),
                  last_full_fetch="2026-11-22T06:00:00Z")
RNG = random.Random(7)


@pytest.mark.parametrize("seen, ok, parse", [
    (Seen(200, body=b"new"), True, True),
    (Seen(200, body=b"same"), True, False),  # the server ignored our validators: identical bytes
    (Seen(304), True, False),
    (Seen(404, error="HTTP 404"), False, False),
    (Seen(None, error="timeout"), False, False),
])
def test_decisions(seen, ok, parse):
    decision = decide(STATE, 900, seen, NOW, RNG)
    assert (decision.ok, decision.parse) == (ok, parse)
    if ok:
        assert decision.next_check == NOW + timedelta(seconds=900)


def test_backoff_grows_with_jitter_and_is_capped_at_six_hours():
    waits = [decide(FeedState(**{**STATE.__dict__, "errors": n}), 900, Seen(500, error="HTTP 500"), NOW, RNG)
             .next_check - NOW for n in range(12)]
    assert all(b >= a * 1.5 for a, b in zip(waits[:4], waits[1:5], strict=True))
    assert max(waits) <= timedelta(hours=6) and waits[-1] >= timedelta(hours=6) * 0.8


@pytest.mark.parametrize("retry_after, at_least", [
    ("3600", timedelta(hours=1)),
    ("Sun, 22 Nov 2026 15:00:00 GMT", timedelta(hours=3)),
    ("9999999", timedelta(days=1)),  # capped: a server may not park a feed for months
])
def test_retry_after_is_honoured_on_429_and_503(retry_after, at_least):
    for status in (429, 503):
        decision = decide(STATE, 60, Seen(status, error=f"HTTP {status}", retry_after=retry_after), NOW, RNG)
        assert at_least <= decision.next_check - NOW <= max(at_least, timedelta(days=1))


def test_410_disables_and_a_daily_full_fetch_drops_validators():
    gone = decide(STATE, 900, Seen(410, error="HTTP 410"), NOW, RNG)
    assert gone.disable and not gone.ok
    assert polling.validators(STATE, NOW) == ('"e"', "lm")
    assert polling.validators(STATE, NOW + timedelta(days=1)) == (None, None)
    assert polling.retry_after("soon", NOW) is None


def test_moved_gone_and_failing_feeds_end_to_end(site, write_config):
    feed = rss(site.base, [("m-1", "/m1.html", "Minsk political prisoners", "Tue, 07 Oct 2025 10:00:00 GMT")])
    site.route("/old.xml", (301, {"Location": "/new.xml"}, b""))
    site.route("/new.xml", (200, {"Content-Type": "application/rss+xml"}, feed))
    site.route("/gone.xml", (410, {}, b"gone"))
    site.route("/busy.xml", (503, {"Retry-After": "7200"}, b"busy"))
    config = write_config([{"url": site.url("/old.xml"), "name": "moved"},
                           {"url": site.url("/gone.xml"), "name": "gone"},
                           {"url": site.url("/busy.xml"), "name": "busy"}])
    report, _ = cycle(config, NOW)
    assert {u.rsplit("/", 1)[-1] for u, _ in report.feed_errors} == {"gone.xml", "busy.xml"}
    report, _ = cycle(config, NOW + timedelta(minutes=1))  # forced: gone is not polled again
    assert len(site.hits_for("/gone.xml")) == 1
    assert len(site.hits_for("/old.xml")) == 1 and len(site.hits_for("/new.xml")) == 2  # moved: asked directly

    result = CliRunner().invoke(main, ["--config", str(config), "feeds"])
    assert result.exit_code == 0
    assert "moved to " + site.url("/new.xml") in result.output
    assert "disabled: HTTP 410 Gone" in result.output
    assert "failing since" in result.output and "HTTP 503" in result.output
    with Store.open(config.parent / "state" / "monitor.db") as store:
        busy = next(f for f in store.feed_health() if f["name"] == "busy")
    assert busy["next_check"] >= "2026-11-22T14:00:00Z"  # Retry-After: 2 h honoured


def test_identical_bodies_are_not_parsed_again(site, write_config):
    feed = rss(site.base, [("i-1", "/i1.html", "Minsk political prisoners", "Tue, 07 Oct 2025 10:00:00 GMT")])
    site.route("/same.xml", (200, {"Content-Type": "application/rss+xml"}, feed))  # no ETag: validators ignored
    config = write_config([{"url": site.url("/same.xml")}])
    first, _ = cycle(config, NOW)
    second, _ = cycle(config, NOW + timedelta(minutes=20))
    assert first.feeds_not_modified == 0 and second.feeds_not_modified == 1 and second.items_seen == 0


def test_feeds_test_shows_items_without_storing(site, write_config):
    config = write_config([])
    url = site.url("/feeds/northwire.xml")
    result = CliRunner().invoke(main, ["--config", str(config), "feeds", "test", url])
    assert result.exit_code == 0, result.output
    assert "4 items" in result.output and "Belarus frees 31 political prisoners" in result.output
    assert not (config.parent / "state" / "monitor.db").exists()
    bad = CliRunner().invoke(main, ["--config", str(config), "feeds", "test", site.url("/feeds/not-a-feed.html")])
    assert bad.exit_code == 1 and "not a feed" in bad.output


@pytest.mark.parametrize("moved_to", [None, "https://feeds.example.org/moved.xml"])
@pytest.mark.parametrize("state", [
    FeedState("https://a.example/rss", "a", "https://a.example/rss"),
    FeedState("https://a.example/rss", "a", "https://b.example/rss", etag='"x"', last_modified="Tue, 01 Dec 2026",
              body_hash="ab" * 16, last_full_fetch="2026-12-01T00:00:00Z", errors=3, full_items=20),
])
def test_the_poll_stages_shortcut_for_a_304_is_decides_own_answer(state, moved_to):
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    for interval in (60, 900, 86400):
        assert polling.not_modified(interval, now, moved_to) == decide(state, interval, Seen(304, moved_to=moved_to),
                                                                       now)


def test_the_cycles_feeds_made_as_their_batch_comes_are_the_config_feed_list(write_config):
    """A cycle takes its feeds from pipeline._Feeds (each Feed made when asked), not from a dict of
    config.feed_list(): the same URLs, Feeds and intervals, a URL listed twice meaning its last entry."""
    from monitor.config import load_config
    from monitor.pipeline import _Feeds

    config = load_config(write_config([
        {"url": "https://a.example/rss"}, {"url": "https://b.example/feed.xml", "name": "Bee", "interval": "1h"},
        {"url": "https://c.example/atom?x=1", "interval": "5m"}, {"url": "https://a.example/rss", "name": "Again"},
    ], interval="20m"))
    spec = {f.url: f for f in config.feed_list()}  # the replaced dict
    made = _Feeds(config)
    assert dict(made) == spec and list(made) == list(spec) and len(made) == 3
    assert made["https://a.example/rss"].name == "Again"
    assert made.intervals() == {url: feed.interval for url, feed in spec.items()} == {
        "https://a.example/rss": 1200, "https://b.example/feed.xml": 3600, "https://c.example/atom?x=1": 300}
    assert list(made.values()) == list(spec.values()) and "https://z.example/" not in made
    # what the poll loop and sync_feed_names take without making Feeds: the Feeds' own intervals and names
    assert {url: made.interval(url) for url in made} == made.intervals()
    assert list(made.names()) == [(f.url, f.name) for f in spec.values()]


@pytest.mark.parametrize("url", ["https://www.example.org/rss", "http://example.org", "https://wwwx.example/a/b",
                                 "https://www.www.example/", "http://10.0.0.1:8080/feed?x=https://www.y/",
                                 "https://b\u00fccher.example/f"])
def test_a_feeds_default_name_is_its_host_as_before(url):
    import re

    from monitor.config import default_name

    assert default_name(url) == re.sub(r"^https?://(www\.)?", "", url).split("/")[0]  # the replaced code


def _to_store_as_before(decision: polling.PollDecision, state: FeedState) -> polling.PollDecision:
    """The specification: polling.to_store before unchanged polls shared their decisions (each built its own)."""
    etag = None if decision.etag == state.etag else decision.etag
    modified = None if decision.last_modified == state.last_modified else decision.last_modified
    digest = None if decision.body_hash == state.body_hash else decision.body_hash
    if etag is decision.etag and modified is decision.last_modified and digest is decision.body_hash:
        return decision
    return polling.PollDecision(ok=decision.ok, next_check=decision.next_check, parse=decision.parse,
                                error=decision.error, disable=decision.disable, moved_to=decision.moved_to, etag=etag,
                                last_modified=modified, body_hash=digest, full_fetch=decision.full_fetch)


def test_shared_unchanged_decisions_are_the_ones_each_poll_built_before():
    """An unchanged poll's stored decision (a 304, or identical bytes with the validators the store holds) is
    shared by the feeds decided at the same moment: equal to the one each built before, field by field, its
    moment in the same zone; a changed answer still gets a decision of its own. The poll stage's shortcut for
    the same bytes (polling.same_body) answers exactly when the bytes and validators are the stored ones, with
    decide's answer as stored."""
    from dataclasses import astuple
    from zoneinfo import ZoneInfo

    states = [STATE, FeedState(**{**STATE.__dict__, "last_full_fetch": None}),
              FeedState(**{**STATE.__dict__, "etag": None, "last_modified": None}),
              FeedState(**{**STATE.__dict__, "body_hash": None}),
              FeedState(**{**STATE.__dict__, "fetch_url": "https://y.test/feed", "errors": 2})]
    kept = {"etag": '"e"', "last_modified": "lm"}
    seens = [Seen(304), Seen(304, moved_to="https://y.test/feed"), Seen(200, body=b"same", **kept),
             Seen(200, body=b"same", etag='"e"', last_modified="other"), Seen(200, body=b"", **kept),
             Seen(200, body=b"same", etag='"other"', last_modified="lm"), Seen(200, body=b"same"),
             Seen(200, body=b"new", **kept), Seen(200, body=b"same", **kept, moved_to="https://y.test/feed"),
             Seen(503, error="HTTP 503", retry_after="120"), Seen(410, error="HTTP 410")]
    for now in (NOW, NOW.astimezone(ZoneInfo("Europe/Minsk")), NOW + timedelta(microseconds=7)):
        for state in states:
            for seen in seens:
                for interval in (60, 900):
                    decided = decide(state, interval, seen, now, random.Random(3))
                    stored = polling.to_store(decided, state) if decided.ok else decided
                    spec = _to_store_as_before(decided, state) if decided.ok else decided
                    assert stored == spec and astuple(stored) == astuple(spec)
                    assert stored.next_check.tzinfo is spec.next_check.tzinfo
                    if seen.status == 304:
                        assert polling.not_modified(interval, now, seen.moved_to) == stored
                    if seen.status == 200:  # the poll stage's shortcut for the same bytes: decide's stored answer
                        short = polling.same_body(state, interval, seen.body, seen.etag, seen.last_modified,
                                                  seen.moved_to, now)
                        same = (polling.body_hash(seen.body), seen.etag, seen.last_modified) == (
                            state.body_hash, state.etag, state.last_modified)
                        assert (short is not None) == same
                        if short is not None:
                            assert short == stored and astuple(short) == astuple(stored) and not decided.parse
                            assert short.next_check.tzinfo is stored.next_check.tzinfo
    # two polls decided at one moment share the stored decision; a moment in another zone does not reuse it
    other = FeedState(**{**STATE.__dict__, "url": "https://z.test/feed", "fetch_url": "https://z.test/feed"})
    again = [decide(state, 900, Seen(200, body=b"same", **kept), NOW) for state in (STATE, other)]
    assert polling.to_store(again[0], STATE) is polling.to_store(again[1], other)
    assert polling.same_body(STATE, 900, b"same", '"e"', "lm", None, NOW) is polling.not_modified(900, NOW) is \
        polling.same_body(other, 900, b"same", '"e"', "lm", None, NOW)
    minsk = polling.not_modified(900, NOW.astimezone(ZoneInfo("Europe/Minsk")))
    assert minsk == polling.not_modified(900, NOW) and minsk.next_check.tzinfo == ZoneInfo("Europe/Minsk")
