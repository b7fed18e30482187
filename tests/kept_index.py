"""The story index kept in the store, as its tests drive it: the formulaic CORPUS, a store fed as the pipeline
feeds it (StoryFeed), an index's decisions and full state, and the check that a loaded index decides as one
rebuilt from the stored articles (same_as_rebuilt)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from monitor.decide import story_window
from monitor.decide.stories import StoryFeatures, StoryIndex, features
from monitor.models import Article, Evidence, FeedItem, Hit
from monitor.store import Store
from tests.formulaic import corpus

CORPUS = corpus(seed=5, sentences=500, envoy=250, stories=30)


def index_state(index: StoryIndex) -> tuple:
    """Everything a decision reads: keys with their document frequency and posting entries, story summaries,
    freed people, the article count."""
    index._unpack_all()
    keys = {key: (index._df[i], list(index._postings[i])) for key, i in index._key_ids.items() if index._df[i]}
    stories = {sid: tuple(getattr(s, a) for a in s.__slots__) for sid, s in index._stories.items()}
    return keys, stories, index._freed, index._articles


def decisions(index: StoryIndex, probes: list[dict], now: datetime | None = None) -> list[tuple]:
    out = []
    for probe in probes:
        feats = features(probe["title"], probe["text"], probe["published"])
        decision = index.assign(feats, probe["rules"], now or probe["published"], release=False,
                                report=(probe["title"], probe["text"]))
        out.append((decision.story_id, decision.score, decision.reason))
    return out


def by_day(articles: list[dict]) -> dict:
    days = defaultdict(list)
    for article in articles:
        days[article["published"].date()].append(article)
    return dict(sorted(days.items()))


class StoryFeed:
    """Stores corpus articles as the pipeline does: assigned to a story by a live index, then kept."""

    def __init__(self, store: Store):
        self.store, self.live, self.n, self.ids = store, StoryIndex(), 0, {}

    def add(self, article: dict, seen: datetime | None = None, *, story: int | None = None,
            facts: dict | None = None, hits: bool = True, new_story: bool = False) -> int:
        self.n += 1
        seen = seen or article["published"]
        item = FeedItem("https://f.example/feed", "F", f"g{self.n}", f"https://f.example/{self.n}",
                        article["title"], "", article["published"])
        feats = features(article["title"], article["text"], article["published"])
        rules = article["rules"] if hits else ()
        if story is None and hits and not new_story:
            story = self.live.assign(feats, rules, seen, report=(article["title"], article["text"])).story_id
        found = [Hit(rule, (Evidence("text", rule, 0, 1),), False) for rule in rules]
        article_id = self.store.add_article(
            Article(item, article["title"], article["text"], "page"), f"g{self.n}", f"u{self.n}", found, seen,
            story=story, fingerprint=feats.fingerprint, features=feats.to_dict() if hits else None, facts=facts)
        if hits:
            self.live.add(story if story is not None else article_id, feats, rules, seen)
        self.ids[article["id"]] = article_id
        return article_id


def rebuilt_index(store: Store, now: datetime) -> StoryIndex:
    """The index as the stored articles give it, built from scratch."""
    return StoryIndex.from_rows((m.story, StoryFeatures.from_dict(m.features), m.rules, m.first_seen)
                                for m in store.story_rows(*story_window(now)))


def same_as_rebuilt(store: Store, now: datetime, probes: list[dict]) -> StoryIndex:
    """The loaded index and one rebuilt from the store decide every probe alike; returns the loaded one."""
    loaded = store.story_index(*story_window(now))
    rebuilt = rebuilt_index(store, now)
    assert len(loaded) == len(rebuilt) > 0
    decided = decisions(loaded, probes, now)
    assert decided == decisions(rebuilt, probes, now)
    assert any(d[0] is not None for d in decided)  # the probes do join stories
    assert index_state(loaded) == index_state(rebuilt)
    return loaded
