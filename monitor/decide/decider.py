"""The Decider: the resident copy and story indexes of the running process, asked in the order monitor/decide
tables (a copy? which story? a new release? which hits alert?), and the Decision it returns for an article.
Pure: no I/O (the store answers, the pipeline stores).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from monitor.decide.alerts import release_gate, stale_gate, wants_release_facts
from monitor.decide.copies import SimHashIndex, body_tokens, copy_reason, simhash
from monitor.decide.releases import ReleaseFacts, release_facts
from monitor.decide.stories import FOLLOW_UP, StoryFeatures, StoryIndex, features, story_text
from monitor.models import Article, Hit, StoryId, StoryMember
from monitor.rules.book import Rule
from monitor.text.lexicon import name_key
from monitor.text.tokens import TextIndex

STORY_MEMORY = timedelta(days=7)  # stories idle longer than this leave the resident index (release stories:
#                                   FOLLOW_UP after their first report, for follow-ups that name their freed)


def story_window(now: datetime) -> tuple[datetime, datetime]:
    """Since when stored articles (release stories' articles) enter the story index a process starts with:
    STORY_MEMORY (FOLLOW_UP) before the start of `now`'s day, UTC. One window the whole day, so the index the
    store keeps serves every process of that day (the first after midnight rebuilds it); it holds 7 to 8 days,
    as a running service's does between its daily prunes."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - STORY_MEMORY, day - FOLLOW_UP


@dataclass(frozen=True)
class Decision:
    fingerprint: int  # the near-duplicate fingerprint of its text (decide/copies.py)
    # the story evidence, read only for an article with hits: no other joins or starts a story (and copies
    # fold into their original), so the rest are spared features() and store no features
    features: StoryFeatures | None = None
    duplicate_of: int | None = None  # a stored article this one copies (syndication)
    distance: int | None = None  # SimHash bits between them
    copy_reason: str = ""  # why it was folded into `duplicate_of`
    story: StoryId | None = None  # the story to join; None: the article starts its own
    story_reason: str = ""
    facts: ReleaseFacts | None = None
    hits: tuple[Hit, ...] = ()  # with alert flags settled by rule and event
    dropped: tuple[str, ...] = ()  # why alerts the rule asked for were not raised


class Decider:
    """The near-duplicate and story indexes of the running process, rebuilt from the store."""

    def __init__(self, simhashes: SimHashIndex | None = None, stories: StoryIndex | None = None):
        self.simhashes = simhashes or SimHashIndex()
        self.stories = stories or StoryIndex()

    @classmethod
    def rebuild(cls, fingerprints: Iterable[tuple[int, int]] | SimHashIndex,
                members: Iterable[StoryMember] | StoryIndex) -> Decider:
        """From the store's copy index (or its (article id, fingerprint) pairs) and its story index (or the
        articles of its recent stories)."""
        simhashes = fingerprints if isinstance(fingerprints, SimHashIndex) else SimHashIndex.from_rows(fingerprints)
        stories = members if isinstance(members, StoryIndex) else StoryIndex.from_rows(
            (m.story, StoryFeatures.from_dict(m.features), m.rules, m.first_seen) for m in members)
        return cls(simhashes, stories)

    def decide(self, article: Article, hits: Sequence[Hit], rules: Mapping[str, Rule], now: datetime,
               max_age: timedelta | None = None) -> Decision:
        """A new article: a copy of a stored one, or an article of an existing or a new story. An article
        published longer than `max_age` before `now` alerts nobody (the digest has it)."""
        index = story_text(article.title, article.text)  # tokenised once for the fingerprint and the features
        fp = simhash(body_tokens(index))
        copies = self.simhashes.query(fp) if fp else []
        if copies:
            original, distance = copies[0]
            return Decision(fp, duplicate_of=original, distance=distance, copy_reason=copy_reason(original, distance))
        if not hits:  # off-topic articles are stored for dedup but form no stories
            return Decision(fp)
        decision = _settle(fp, index, article, hits, rules)
        choice = self.stories.assign(decision.features, [h.rule for h in hits], now,
                                     release=decision.facts is not None, report=(article.title, article.text))
        hits_now, stale = stale_gate(decision.hits, article.item.published, now, max_age)
        return replace(decision, hits=hits_now, dropped=decision.dropped + stale, story=choice.story_id,
                       story_reason=choice.reason)

    @staticmethod
    def describe(article: Article, hits: Sequence[Hit], rules: Mapping[str, Rule]) -> Decision:
        """A stored article's new text: its fingerprint, features, release facts and hits; no copy or story lookup."""
        index = story_text(article.title, article.text)
        fp = simhash(body_tokens(index))
        return _settle(fp, index, article, hits, rules) if hits else Decision(fp)

    def record(self, article_id: int, story: StoryId | None, decision: Decision, now: datetime) -> None:
        """Index a stored article; its story is `story`, or its own id when it started one."""
        self.simhashes.add(article_id, decision.fingerprint)
        if decision.hits and decision.features is not None:
            self.stories.add(story if story is not None else article_id, decision.features,
                             [h.rule for h in decision.hits], now)

    def forget_before(self, now: datetime) -> int:
        return self.stories.prune(now - STORY_MEMORY, now - FOLLOW_UP)


def _settle(fp: int, index: TextIndex, article: Article, hits: Sequence[Hit], rules: Mapping[str, Rule]) -> Decision:
    """An article with hits: its story features (from `index`, story_text), the release it reports (read only
    when a hit's rule alerts on releases), and which hits keep their alert."""
    feats = features(article.title, article.text, article.item.published, index=index, fingerprint=fp)
    facts = None
    if wants_release_facts(hits, rules):
        facts = release_facts(article.title, article.text, article.language, article.item.published)
    settled, dropped = release_gate(hits, rules, facts is not None)
    if facts is not None and facts.names:  # who was freed: what a follow-up weeks later will name
        feats = replace(feats, freed=tuple(dict.fromkeys(
            key for name in facts.names if len((key := name_key(name)).split()) >= 2)))
    return Decision(fp, feats, facts=facts, hits=settled, dropped=dropped)
