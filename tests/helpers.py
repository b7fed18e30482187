"""Builders the test modules share: a pipeline or service from a config file (as the CLI builds them),
the CLI as a subprocess and its outbox, RSS bodies, the labelled story fixture with story assignment, the
fixtures' texts and the rounds' pages as extracted, and a database as an older monitor left it."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlite_utils import Database

from monitor.config import load_config
from monitor.decide.stories import StoryIndex, features
from monitor.extract import extract_article
from monitor.migrations import MIGRATIONS
from monitor.models import Article, FeedItem
from monitor.pipeline import build_pipeline
from monitor.rules.files import load_rulebook
from monitor.service import Service
from monitor.store import Store, iso


def database_before(path: Path, migration: str, applied: datetime | None = None) -> Database:
    """A database migrated up to, not including, `migration`: what an older monitor left behind."""
    db = Database(path)
    db["_migrations"].create({"name": str, "applied": str}, pk="name")
    for name, step in MIGRATIONS:
        if name == migration:
            break
        step(db)
        db["_migrations"].insert({"name": name, "applied": iso(applied or datetime.now(UTC))})
    return db


# -- the pipeline, the service and the CLI ---------------------------------------------------------------

def rss(base: str, items: list[tuple[str, str, str, str]]) -> bytes:
    """items: (guid, link path, title, pubDate)"""
    body = "".join(f"<item><guid isPermaLink='false'>{g}</guid><link>{base}{link}</link><title>{t}</title>"
                   f"<description>Viasna says Minsk holds political prisoners.</description>"
                   f"<pubDate>{d}</pubDate></item>" for g, link, t, d in items)
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title><link>{base}/</link>{body}"
            "</channel></rss>").encode()


def pipeline_for(config_path, clock=None):
    """The CLI's pipeline over the config file, with extraction in this process and an optional fixed clock."""
    config = load_config(config_path)
    book = load_rulebook(config.rules_dir)
    return build_pipeline(config, lambda: book, clock=clock or (lambda: datetime.now(UTC)),
                          inline_extraction=True), config


def cycle(config_path, now=None):
    pipeline, config = pipeline_for(config_path, (lambda: now) if now else None)
    with Store.open(config.db_path) as store:
        return pipeline.run_cycle(store, force=True), store.counts()


def make_service(config_path, clock=None):
    pipeline, config = pipeline_for(config_path, clock)
    return Service(pipeline), config


def cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def outbox(config: Path, kind: str) -> list[dict]:
    folder = config.parent / "state" / "outbox"
    files = sorted(folder.glob(f"*-{kind}-*.json")) if folder.exists() else []
    for f in files:  # every message has its two renderings beside it
        assert f.with_suffix(".txt").exists() and f.with_suffix(".html").exists()
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


# -- the fixtures' texts and the rounds fixture's pages ------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROUNDS = FIXTURES / "rounds"


def _strings(data: object):
    if isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)
    elif isinstance(data, str) and len(data) > 40:
        yield data


def fixture_texts() -> list[tuple[str, str]]:
    """(title, text) of every longer string of our YAML fixtures (stories, labelled rounds): its first line
    stands for a title."""
    texts = []
    for path in sorted(FIXTURES.rglob("*.yaml")):
        for text in _strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            texts.append((text.split("\n")[0][:120], text))
    return texts


def round_page(article: dict) -> Article:
    """An article of the rounds fixture (an entry of its expected.yaml) as extracted from its page."""
    path = article["urls"][0].split("?")[0].lstrip("/")
    page = next(ROUNDS / f"round{r}" / path for r in range(article["round"], 0, -1)
                if (ROUNDS / f"round{r}" / path).exists())
    published = article["published"]
    published = published if isinstance(published, datetime) else datetime.fromisoformat(str(published))
    item = FeedItem("http://127.0.0.1:1/feed", article["site"], None, f"http://127.0.0.1:1/{path}",
                    article["title"], "", published.astimezone(UTC))
    return extract_article(item, page.read_bytes().replace(b"{base}", b"http://127.0.0.1:1"), "text/html")


# -- the labelled story fixture --------------------------------------------------------------------------


FIXTURE = Path(__file__).resolve().parent / "fixtures" / "stories.yaml"


def load_articles() -> list[dict]:
    """The labelled articles, oldest first, with `published` as an aware datetime."""
    articles = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["articles"]
    for article in articles:
        published = article["published"]
        if isinstance(published, str):
            published = datetime.fromisoformat(published.replace("Z", "+00:00"))
        article["published"] = published.astimezone(UTC)
    return sorted(articles, key=lambda a: a["published"])


ARTICLES = load_articles()
BY_ID = {a["id"]: a for a in ARTICLES}


def pairwise_scores(truth: dict[str, str], predicted: dict[str, object]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering: a pair is positive when both items share a label."""
    items = sorted(truth)
    true_pairs = {(a, b) for a, b in itertools.combinations(items, 2) if truth[a] == truth[b]}
    got_pairs = {(a, b) for a, b in itertools.combinations(items, 2) if predicted[a] == predicted[b]}
    hit = len(true_pairs & got_pairs)
    precision = hit / len(got_pairs) if got_pairs else 1.0
    recall = hit / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def group(articles: list[dict], index: StoryIndex | None = None) -> tuple[dict[str, int], StoryIndex]:
    """Run story assignment over `articles` in order, as the pipeline would; article ids are list positions."""
    index = index or StoryIndex()
    assigned: dict[str, int] = {}
    for number, article in enumerate(articles):
        feats = features(article["title"], article["text"], article["published"])
        decision = index.assign(feats, article["rules"], article["published"],
                                report=(article["title"], article["text"]))
        story = decision.story_id if decision.story_id is not None else number
        index.add(story, feats, article["rules"], article["published"])
        assigned[article["id"]] = story
    return assigned, index


def delivery_rows(config: Path, channel: str) -> list[dict]:
    """The deliveries table's rows of one channel, in message order."""
    conn = sqlite3.connect(config.parent / "state" / "monitor.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM deliveries WHERE channel = ? ORDER BY message_id", [channel])]
    finally:
        conn.close()


def make_due(config: Path, release_holds: bool = False) -> None:
    """What the clock would do: every retry time (and, if asked, every Retry-After hold) has come."""
    conn = sqlite3.connect(config.parent / "state" / "monitor.db")
    conn.execute("UPDATE deliveries SET next_attempt = '2000-01-01T00:00:00Z' WHERE status = 'pending'")
    if release_holds:
        conn.execute("UPDATE channel_holds SET until = '2000-01-01T00:00:00Z'")
    conn.commit()
    conn.close()
