"""The page deadline measures the request, not the queue in front of it: an aggregator feed whose links
all sit on one slow-but-healthy host, fetched with a small per-host limit, loses no page to the deadline;
and each cycle logs how many pages it could not fetch and why."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from monitor.config import FetchConfig
from monitor.fetch import PAST_DEADLINE, Fetcher, Request
from tests.helpers import cli

PAGES = 24
PAGE_SECONDS = 0.25  # each page takes this long: with per_host 2, the last waits ~3 s in the queue
DEADLINE = 2.0  # longer than any one page, shorter than the queue in front of the last ones
WORDS = ("minister", "verdict", "convoy", "harbour", "tariff", "grain", "court", "railway", "customs", "border",
         "embassy", "lawyer", "archive", "reservoir", "election", "parliament", "refinery", "potash", "timber",
         "bridge", "satellite", "pipeline", "festival", "hospital", "tractor", "orchestra", "museum", "vaccine")


def _page(n: int) -> bytes:
    rng = random.Random(n)
    paragraphs = "".join(f"<p>{' '.join(rng.choice(WORDS) for _ in range(45))}.</p>" for _ in range(5))
    return (f"<html><head><title>Page {n}</title></head><body><article><h1>Story {n}</h1>{paragraphs}"
            "</article></body></html>").encode()


def _slow(n: int):
    def handler(_request):
        time.sleep(PAGE_SECONDS)
        return 200, {"Content-Type": "text/html; charset=utf-8"}, _page(n)
    return handler


def _aggregator(site, links: list[str]) -> bytes:
    items = "".join(f"<item><title>{' '.join(random.Random(-n).sample(WORDS, 5))}</title><link>{url}</link>"
                    f"<guid>agg-{n}</guid><description>{' '.join(random.Random(n + 99).sample(WORDS, 12))}"
                    "</description></item>" for n, url in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Aggregator</title>'
            f"<link>{site.url('/')}</link>{items}</channel></rss>").encode()


def test_requests_queued_behind_the_per_host_limit_keep_their_whole_deadline(site):
    for n in range(PAGES):
        site.route(f"/story/{n}", _slow(n))
    fetcher = Fetcher(FetchConfig(allow_private_networks=True, per_host=2, concurrency=20, deadline=DEADLINE))
    outcomes = fetcher.fetch_many([Request(site.url(f"/story/{n}"), "page") for n in range(PAGES)])
    assert [o.error for o in outcomes if o.error is not None] == []
    assert all(f"Story {n}".encode() in o.response.body for n, o in enumerate(outcomes))


def test_the_deadline_still_ends_a_slow_request_once_it_has_its_connection(site):
    """Behind the same queue, a page that trickles past the deadline while connected is still cut off."""
    for n in range(PAGES):
        site.route(f"/story/{n}", _slow(n))

    def too_slow(_request):
        time.sleep(DEADLINE + 1.5)
        return 200, {"Content-Type": "text/html"}, b"<html>late</html>"

    site.route("/too-slow", too_slow)
    fetcher = Fetcher(FetchConfig(allow_private_networks=True, per_host=2, deadline=DEADLINE))
    requests = [Request(site.url(f"/story/{n}"), "page") for n in range(PAGES)] + [Request(site.url("/too-slow"))]
    outcomes = fetcher.fetch_many(requests)
    assert outcomes[-1].failure == PAST_DEADLINE and "within the 2s deadline" in str(outcomes[-1].error)
    assert [o.error for o in outcomes[:-1] if o.error is not None] == []


def test_an_aggregator_feed_on_one_slow_host_loses_no_page_and_the_cycle_counts_what_failed(site, write_config):
    for n in range(PAGES):
        site.route(f"/story/{n}", _slow(n))
    links = [site.url(f"/story/{n}") for n in range(PAGES)] + [site.url("/gone/1"), site.url("/gone/2")]
    site.route("/aggregator.xml", (200, {"Content-Type": "application/rss+xml"}, _aggregator(site, links)))
    config = write_config([{"url": site.url("/aggregator.xml"), "name": "aggregator"}],
                          fetch={"per_host": 2, "deadline": DEADLINE})
    run = cli(config, "run", "--once", timeout=300)
    assert run.returncode == 0, run.stderr
    notes = _text_notes(config.parent / "state" / "monitor.db")
    assert not [note for note in notes if "deadline" in (note or "")]
    assert sum("HTTP 404" in (note or "") for note in notes) == 2
    assert len(site.requests) == 1 + PAGES + 2  # the feed, every page once, the two missing pages
    assert "deadline" not in run.stdout + run.stderr
    assert f"pages: 2 of {PAGES + 2} not fetched this cycle (2 HTTP 404)" in run.stderr
    assert "2 pages not fetched" in run.stdout


def _text_notes(db: Path) -> list[str | None]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT text_note FROM articles")]
