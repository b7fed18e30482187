"""The monitor's own work per new article, stage by stage, in one process: what `run --once` does with each of
bench/e2e.py's 181 full-content articles (the scrapinghub-aeb pages' text behind generated feeds, a topic
sentence of ours in every fourth), in the pipeline's order and transactions, beside feedparser on the same feeds.

    python bench/bench_article.py [--repeats 15]

Stages: read_feed beyond feedparser (feedparser.parse with the monitor's options is its own row), matching
(`match_article`), deciding (`Decider.decide`: fingerprint, copy lookup, story features, release facts), storing
(`Store.add_article` with its savepoint, and the batch's commit with the search index); "own work" is their sum.
Each figure is CPU ms per article, the least of --repeats passes (a fresh store and indexes each pass): the
machine is shared, and the least is what the work costs when nothing else disturbs it. bench/e2e.py's
full-content row measures the same work as users run it (a subprocess per cycle, first run minus second), which
also counts the first cycle's one-off costs (imports, compiled patterns) and swings with the load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import ITEMS_PER_FEED, full_feed, load_pages, page_bytes, topic_lead  # noqa: E402


def corpus_feeds() -> list[bytes]:
    """The full-content feeds of bench/e2e.py, made from the same texts."""
    from monitor.extract import extract_article
    from monitor.models import FeedItem
    pages = load_pages()
    if not pages:
        raise SystemExit("the scrapinghub-aeb corpus is missing (../shared/corpora/scrapinghub-aeb)")
    blank = FeedItem("", "", None, None, "", "", None)
    texts = []
    for i in range(len(pages)):
        text = extract_article(blank, page_bytes(pages, i), "text/html; charset=utf-8").text
        lead = topic_lead(i)
        texts.append(f"{lead}\n{text}" if lead else text)
    return [full_feed("", k, texts) for k in range((len(texts) + ITEMS_PER_FEED - 1) // ITEMS_PER_FEED)]


def one_pass(bodies: list[bytes], scratch: Path) -> dict[str, float]:
    """CPU seconds of each stage over every article of `bodies`, into a fresh store."""
    import feedparser

    from monitor.decide import Decider
    from monitor.decide.new import item_hash, item_keys
    from monitor.extract import fallback_article
    from monitor.feeds import FEEDPARSER_OPTIONS, read_feed
    from monitor.models import Feed
    from monitor.pipeline import STORE_BATCH, _features
    from monitor.rules.files import load_rulebook
    from monitor.rules.matching import match_article
    from monitor.store import Store

    book = load_rulebook(ROOT / "rules")
    rules = {r.name: r for r in book.rules}
    spent = dict.fromkeys(("feedparser", "read_feed", "match", "decide", "store"), 0.0)
    clock = time.process_time
    started = clock()
    for body in bodies:
        feedparser.parse(body, **FEEDPARSER_OPTIONS)
    spent["feedparser"] = clock() - started
    started = clock()
    items = [item for k, body in enumerate(bodies) for item in read_feed(
        Feed(f"http://127.0.0.1/full/{k}.xml", "127.0.0.1", 900, False), body,
        {"Content-Type": "application/rss+xml"}).items]
    spent["read_feed"] = clock() - started - spent["feedparser"]
    articles = [fallback_article(item, "no page") for item in items]  # what a full-content item becomes
    decider, now = Decider(), datetime.now(UTC)
    with Store.open(Path(tempfile.mkdtemp(dir=scratch)) / "monitor.db") as store:
        for start in range(0, len(articles), STORE_BATCH):
            with store.transaction():
                for article in articles[start:start + STORE_BATCH]:
                    began = clock()
                    hits = match_article(book, article.title, article.text)
                    matched = clock()
                    decision = decider.decide(article, hits, rules, now)
                    decided = clock()
                    guid_key, url_key = item_keys(article.item)
                    article_id = store.add_article(
                        article, guid_key, url_key, decision.hits, now, story=decision.story,
                        fingerprint=decision.fingerprint, features=_features(decision),
                        facts=asdict(decision.facts) if decision.facts else None, item_hash=item_hash(article.item),
                        notes=decision.dropped)
                    decider.record(article_id, decision.story, decision, now)
                    spent["match"] += matched - began
                    spent["decide"] += decided - matched
                    spent["store"] += clock() - decided
                committing = clock()
            spent["store"] += clock() - committing
    return {stage: seconds / len(articles) * 1000 for stage, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="passes; each figure is the least of them")
    args = parser.parse_args()
    bodies = corpus_feeds()
    with tempfile.TemporaryDirectory() as scratch:
        passes = [one_pass(bodies, Path(scratch)) for _ in range(args.repeats)]
    best = {stage: min(p[stage] for p in passes) for stage in passes[0]}
    own = min(sum(v for k, v in p.items() if k != "feedparser") for p in passes)
    print(f"load average {os.getloadavg()[0]:.2f}; CPU ms per article, least of {args.repeats} passes")
    for stage, ms in best.items():
        print(f"  {stage:<11} {ms:6.3f}" + ("  (beyond feedparser)" if stage == "read_feed" else ""))
    print(f"  own work    {own:6.3f}  ({own / best['feedparser']:.1f}x feedparser with the monitor's options)")


if __name__ == "__main__":
    main()
