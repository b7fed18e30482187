"""Builders the test modules share: the repository's paths, a pipeline or service from a config file (as the CLI
builds them), the CLI in-process or as a subprocess and its outbox, RSS bodies, the deliveries table, the labelled
story fixture with story assignment, the fixtures' texts and the rounds' pages as extracted, a rule tree's fields,
and a database as an older monitor left it."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml
from click.testing import CliRunner, Result
from sqlite_utils import Database

from monitor.cli import main
from monitor.config import load_config
from monitor.decide.stories import StoryIndex, features
from monitor.extract import extract_article
from monitor.migrations import MIGRATIONS
from monitor.models import Article, FeedItem
from monitor.pipeline import build_pipeline
from monitor.rules.files import load_rulebook
from monitor.rules.query import Field
from monitor.service import Service
from monitor.store import Store, iso

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SITE = FIXTURES / "site"
ROUNDS = FIXTURES / "rounds"
SHARED = ROOT.parent / "shared"


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


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


def titled_rss(title: str | None, items: list[str]) -> bytes:
    """An RSS body of ready-made <item>s, under a channel title (none when `title` is None)."""
    head = f"<title>{title}</title>" if title else ""
    return (f'<?xml version="1.0"?><rss version="2.0"><channel>{head}<link>https://x.example/</link>'
            + "".join(items) + "</channel></rss>").encode()


STORIES = {  # three different releases, told in different words, so none is folded into another as a copy
    12: ("Lithuania", "Viasna said the twelve were driven to the Lithuanian border at dawn and walked across "
                      "with their lawyers; two of them had served more than four years."),
    27: ("Poland", "A spokesman in Warsaw said the group of 27 arrived by bus at the Terespol crossing, where "
                   "relatives waited in the rain; a priest and a blogger were among them."),
    33: ("Latvia", "Officials in Riga confirmed that 33 former inmates reached the border post near Daugavpils "
                   "late on Sunday after a deal that took months to negotiate."),
    14: ("Lithuania", "Human rights defenders counted 14 people on the list, mostly students and trade unionists "
                      "jailed after the 2020 protests."),
    52: ("Lithuania", "The 52 included journalists and opposition figures who had been held incommunicado for "
                      "years, according to a statement from Vilnius."),
}


def rss_item(base: str, n: int, published: datetime, source: str = "") -> str:
    """The <item> of a release of `n` political prisoners (one of STORIES), published at `published`."""
    country, detail = STORIES[n]
    return (f"<item><title>Belarus frees {n} political prisoners, they crossed into {country}</title>"
            f"<link>{base}/news/{n}</link><guid>g-{n}</guid>"
            f"<pubDate>{published:%a, %d %b %Y %H:%M:%S} +0000</pubDate>{source}"
            f"<description>Belarus freed {n} political prisoners on {published:%A}. {detail}</description></item>")


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


def invoke(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in this process (click's runner), errors raised rather than caught."""
    return CliRunner().invoke(main, ["--config", str(config), *args], env=env, catch_exceptions=False)


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


FIXTURE = FIXTURES / "stories.yaml"


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


# -- the deliveries -----------------------------------------------------------------------------------------

SLACK = "/hooks/slack"  # the Slack webhook's path on the test's site server


def slack_env(site) -> dict[str, str]:
    return {"MONITOR_SLACK_WEBHOOK_URL": site.url(SLACK)}


def feeds_of(site) -> list[dict]:
    """Two feeds of the fixture site."""
    return [{"url": site.url("/feeds/northwire.xml"), "name": "Northwire"},
            {"url": site.url("/feeds/minsk-monitor.atom"), "name": "Minsk Monitor"}]


def db(config: Path) -> sqlite3.Connection:
    """A plain connection to the config's database."""
    return sqlite3.connect(config.parent / "state" / "monitor.db")


def delivery_rows(config: Path, channel: str) -> list[dict]:
    """The deliveries table's rows of one channel, in message order."""
    conn = db(config)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT * FROM deliveries WHERE channel = ? ORDER BY message_id", [channel])]
    finally:
        conn.close()


def make_due(config: Path, release_holds: bool = False) -> None:
    """What the clock would do: every retry time (and, if asked, every Retry-After hold) has come."""
    conn = db(config)
    conn.execute("UPDATE deliveries SET next_attempt = '2000-01-01T00:00:00Z' WHERE status = 'pending'")
    if release_holds:
        conn.execute("UPDATE channel_holds SET until = '2000-01-01T00:00:00Z'")
    conn.commit()
    conn.close()


def deliveries(config: Path, channel: str) -> list[dict]:
    """The deliveries of one channel with their message's kind, in the order the messages were made."""
    conn = db(config)
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(
        "SELECT d.*, m.kind FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE d.channel = ? "
        "ORDER BY m.created, m.id", [channel])]


# -- rule trees --------------------------------------------------------------------------------------------


def has_field(node) -> bool:
    """Whether a query tree scopes any part of itself to a field (title:, text:)."""
    if isinstance(node, Field):
        return True
    kids = getattr(node, "children", None) or tuple(
        getattr(node, k) for k in ("child", "left", "right") if hasattr(node, k))
    return any(has_field(k) for k in kids)
