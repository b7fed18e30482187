"""Builders the test modules share (and bench/ may use): the labelled story fixture and running story
assignment over it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import yaml

from monitor.decide.stories import StoryIndex, features

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
        decision = index.assign(feats, article["rules"], article["published"])
        story = decision.story_id if decision.story_id is not None else number
        index.add(story, feats, article["rules"], article["published"])
        assigned[article["id"]] = story
    return assigned, index
