"""Which story does a new article join? Its features (the evidence) and the resident story index.

Pure: data in, decisions out, explicit `now`; the store keeps features, `StoryIndex.from_rows` rebuilds.
Stories: an inverted index of evidence keys (name keys across spellings and scripts, places, headline and
body numbers, stemmed terms) -> stories active within 72 h; score = IDF-weighted share of the article's
evidence found in the story, x0.4 when headline numbers differ, x0.5 on weak evidence; join at >= 0.28.
Fixture: pairwise F1 1.0 (closest wrong pair 0.14); bench/bench_stories.py: ~1-2 ms of index work per
article at 100,000 stored, 37 MB resident.
"""

from __future__ import annotations

import math
import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.decide.copies import NEAR_DUPLICATE_BITS, body_tokens, simhash
from monitor.models import StoryId
from monitor.text.lexicon import STOP_WORDS, WORD, cyrillic_count, name_key, place
from monitor.text.numbers import NUMBER_WORDS, numbers
from monitor.text.sentences import article_index, clean_text
from monitor.text.tokens import fold

# -- article features ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoryFeatures:
    """What an article says, compactly: the evidence story assignment compares.

    entities: name keys (see `name_key`) of capitalised words that are not places; places: canonical
    keys; numbers: counts anywhere; lead_numbers: counts in the title or first two sentences (the
    headline numbers); terms: stemmed distinctive words, title and lead first; script: "cyrl" or "latn".
    """

    entities: frozenset[str]
    places: frozenset[str]
    numbers: frozenset[int]
    lead_numbers: frozenset[int]
    terms: frozenset[str]
    published: datetime | None
    fingerprint: int
    script: str = "latn"

    def evidence(self) -> dict[str, float]:
        """Evidence keys with this article's weight for each."""
        weights: dict[str, float] = {}
        for entity in self.entities:
            weights["e:" + entity] = 1.0
        for p in self.places:
            weights["p:" + p] = 0.6
        for n in self.numbers:
            weights[f"n:{n}"] = 0.5
        for n in self.lead_numbers:
            weights[f"h:{n}"] = 2.0
        for term in self.terms:
            weights[f"t:{self.script}:{term}"] = 0.6
        return weights

    def to_dict(self) -> dict:
        """A JSON-ready form, for the store."""
        return {"entities": sorted(self.entities), "places": sorted(self.places), "numbers": sorted(self.numbers),
                "lead_numbers": sorted(self.lead_numbers), "terms": sorted(self.terms),
                "published": self.published.isoformat() if self.published else None,
                "fingerprint": self.fingerprint, "script": self.script}

    @classmethod
    def from_dict(cls, data: dict) -> StoryFeatures:
        published = data.get("published")
        return cls(frozenset(data["entities"]), frozenset(data["places"]), frozenset(data["numbers"]),
                   frozenset(data["lead_numbers"]), frozenset(data["terms"]),
                   datetime.fromisoformat(published) if published else None, int(data["fingerprint"]),
                   data.get("script", "latn"))


_MAX_ENTITIES = 24
_MAX_TERMS = 12
_MIN_NUMBER = 3  # "two days", "2-1": too common to tell stories apart


def _is_title_case(title: str) -> bool:
    words = [w for w in WORD.findall(title) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) > 0.6 * len(words)


_CAPITALISED = re.compile(r"(?<![\w'’])[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁІЎЄ][^\W\d_]+(?:['’][^\W\d_]+)?")
# what comes before a word that starts a sentence, a quote or a list item
_INITIAL = re.compile(r"(?:[.!?…][\"'»”’)]*\s+|\n\s*|[—–«\"“:]\s*|^\s*-\s*)$")


def _names(text: str) -> Iterator[tuple[str, bool]]:
    """(word, sure) for capitalised words of `text` that may be names: sure unless the word starts a
    sentence on its own (there a capital says nothing)."""
    previous_end = -2
    pending: str | None = None  # a sentence-initial word, sure only if the next word is capitalised too
    for match in _CAPITALISED.finditer(text):
        word, start = match.group(), match.start()
        if pending is not None:
            yield pending, start == previous_end + 1 and text[previous_end] == " "
            pending = None
        if start == 0 or _INITIAL.search(text, max(0, start - 6), start):
            pending = word
        else:
            yield word, True
        previous_end = match.end()
    if pending is not None:
        yield pending, False


def features(title: str, text: str, published: datetime | None) -> StoryFeatures:
    """Extract the evidence of one article (tokenise once; about 1 ms for 5 KB)."""
    index = article_index(title, clean_text(text))
    lead_text, body_text = index.text("lead"), index.text("body")
    fp = simhash(body_tokens(index))

    vocabulary = index.vocabulary()
    place_of = {w: p for w in vocabulary if (p := place(w))}
    places = set(place_of.values())

    entity_counts: Counter[str] = Counter()
    unsure: Counter[str] = Counter()
    name_words: set[str] = set()
    title_case = _is_title_case(title)
    for source, weight in ((title, 3), (lead_text, 2), (body_text, 1)):
        for word, sure in _names(source):
            folded = fold(word)
            if folded in STOP_WORDS or folded in NUMBER_WORDS or folded in place_of or place(folded):
                continue
            key = name_key(word)
            if len(key) < 2:
                continue
            if sure and not (source is title and title_case):
                entity_counts[key] += weight
                name_words.add(folded)
            else:
                unsure[key] += weight
    for key, count in unsure.items():  # headline words and sentence starters known as names elsewhere
        if key in entity_counts:
            entity_counts[key] += count
    entities = frozenset(k for k, _ in entity_counts.most_common(_MAX_ENTITIES))

    lead_numbers = {v for v, _, _ in numbers(title, _MIN_NUMBER)} | {v for v, _, _ in numbers(lead_text, _MIN_NUMBER)}
    body_words = not NUMBER_WORDS.keys().isdisjoint(index.vocabulary("body"))
    all_numbers = lead_numbers | {v for v, _, _ in numbers(body_text, _MIN_NUMBER, body_words)}

    weighted: Counter[str] = Counter()
    for field, weight in (("title", 3), ("lead", 2), ("body", 1)):
        counts = Counter(index.tokens(field))
        for token, count in counts.items():
            weighted[token] += weight * count
    term_counts: Counter[str] = Counter()
    for token, count in weighted.items():
        if (len(token) >= 4 and not token.isdigit() and token not in STOP_WORDS and token not in name_words
                and token not in NUMBER_WORDS and token not in place_of):
            term_counts[token[:6]] += count
    terms = frozenset(k for k, _ in term_counts.most_common(_MAX_TERMS))

    letters = "".join(index.tokens("title")[:20] + index.tokens("lead")[:40])
    cyrillic = cyrillic_count(letters)
    script = "cyrl" if cyrillic * 2 > len(letters) else "latn"
    return StoryFeatures(entities, frozenset(places), frozenset(all_numbers), frozenset(lead_numbers), terms,
                         published, fp, script)


# -- story assignment ----------------------------------------------------------------------------------

WINDOW = timedelta(hours=72)
JOIN_SCORE = 0.28
_POSTING_SCAN = 200  # newest entries read per key when gathering candidates
_STOP_DF = 200
_PACKED = {"e": 1, "t": 1 << 10, "h": 1 << 20}
_EPOCH = datetime(2000, 1, 1).timestamp()


def _minutes(t: datetime) -> int:
    return int((t.timestamp() - _EPOCH) // 60)


@dataclass(frozen=True)
class StoryDecision:
    """Join `story_id` (None: start a new story) with this score, and why."""

    story_id: StoryId | None
    score: float
    reason: str


class _Story:
    __slots__ = ("first", "fp", "heads", "last", "rules", "scripts", "size")

    def __init__(self, first: int, fp: int, rules: frozenset[str], script: str):
        self.first = self.last = first
        self.fp = fp
        self.rules = rules
        self.scripts = script
        self.heads: tuple[int, ...] = ()  # headline numbers seen in its articles
        self.size = 0


class StoryIndex:
    """Resident story summaries plus an inverted index: evidence key -> (story, minute) entries, newest last.

    Scoring is accumulated while reading the postings, so a story keeps no key set of its own: a
    story costs one small object plus 8 bytes per distinct key. Rebuild with `from_rows` from stored
    rows of the recent past; `prune` drops stories idle longer than the retention, which bounds memory
    by traffic rather than history. Document frequencies for the IDF weights count the articles added.
    """

    def __init__(self, window: timedelta = WINDOW, join_score: float = JOIN_SCORE):
        self.window = window
        self.join_score = join_score
        self._key_ids: dict[str, int] = {}
        self._df = array("I")
        self._postings: list[array] = []  # per key id: story id, minute, story id, minute, ...
        self._stories: dict[int, _Story] = {}
        self._articles = 0
        self._interned: dict = {}

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, StoryFeatures, Iterable[str], datetime]],
                  window: timedelta = WINDOW) -> StoryIndex:
        """Rebuild from stored (story_id, features, rules, first_seen) rows, oldest first."""
        index = cls(window)
        for story_id, feats, rules, seen in rows:
            index.add(story_id, feats, rules, seen)
        return index

    def __len__(self) -> int:
        return len(self._stories)

    @staticmethod
    def _reference_time(feats: StoryFeatures, now: datetime) -> datetime:
        # the event time is when it was published, unless that is missing or claims the future
        if feats.published is not None and feats.published <= now + timedelta(hours=1):
            return feats.published
        return now

    def _idf(self, key_id: int | None) -> float:
        df = self._df[key_id] if key_id is not None else 0
        return math.log((self._articles + 10) / (df + 1))

    def _is_stop(self, key_id: int) -> bool:
        # keys in more than 0.5% of the articles (and over 200 of them) tell no story apart: like stop
        # words they are left out of candidates and scores, which keeps the postings read short
        df = self._df[key_id]
        return df > _STOP_DF and df * 200 > self._articles

    def _stories_of(self, key_id: int, t: int, w: int) -> set[int]:
        """Stories with an entry for the key at most 2 windows before `t` (the newest `_POSTING_SCAN`)."""
        posting = self._postings[key_id]
        n = len(posting) // 2
        # minutes are kept non-decreasing (see add), so the cut is a binary search over the odd slots
        cut = bisect_left(memoryview(posting)[1::2], t - 2 * w, max(0, n - _POSTING_SCAN))
        return set(posting[2 * cut::2])

    def _evaluate(self, feats: StoryFeatures, rules: frozenset[str], now: datetime,
                  seen: list[tuple[float, str, set[int]]]) -> dict[int, tuple[float, list[str]]]:
        """Score and notes of every active story sharing evidence with the article; `seen` collects, per
        key, (mass, key, stories holding it) for `_explain`."""
        t = _minutes(self._reference_time(feats, now))
        w = int(self.window.total_seconds() // 60)
        shared: dict[int, list] = {}  # story -> [mass, kinds packed as names + terms << 10 + heads << 20]
        total = total_terms = 0.0
        for key, weight in feats.evidence().items():
            key_id = self._key_ids.get(key)
            if key_id is not None and self._is_stop(key_id):
                continue
            mass = weight * self._idf(key_id)
            kind = key[0]
            if kind == "t":
                total_terms += mass
            else:
                total += mass
            if key_id is None:
                continue
            packed = _PACKED.get(kind, 0)
            holders = self._stories_of(key_id, t, w)
            seen.append((mass, key, holders))
            for story_id in holders:
                acc = shared.get(story_id)
                if acc is None:
                    shared[story_id] = [mass, packed]
                else:
                    acc[0] += mass
                    acc[1] += packed
        out = {}
        stories = self._stories
        # adjustments only lower a score, so stories below the floor even before them are skipped
        floor = self.join_score / 2 * total
        for story_id, (mass, packed) in shared.items():
            if mass < floor:
                continue
            story = stories.get(story_id)
            if story is None or story.last < t - w or story.first > t + w:
                continue
            out[story_id] = self._adjust(story, feats, rules, mass, packed, total, total_terms)
        return out

    @staticmethod
    def _adjust(story: _Story, feats: StoryFeatures, rules: frozenset[str], mass: float, packed: int,
                total: float, total_terms: float) -> tuple[float, list[str]]:
        # terms only compare within one language; names, places and numbers cross it
        denominator = total + (total_terms if feats.script in story.scripts else 0.0)
        value = mass / denominator if denominator else 0.0
        notes = []
        names, terms, heads = packed & 1023, (packed >> 10) & 1023, packed >> 20
        if feats.lead_numbers and story.heads and not heads:
            value *= 0.4  # another headline number: another event (123 freed is not the release of 52)
            notes.append("headline numbers differ")
        if not (heads or names >= 2 or (names and terms >= 3) or terms >= 5):
            value *= 0.5  # one shared name and a background number is a coincidence, not a story
            notes.append("weak evidence")
        if rules and story.rules and not rules & story.rules:
            value *= 0.7
            notes.append("no common topic")
        d = (feats.fingerprint ^ story.fp).bit_count()
        if d <= NEAR_DUPLICATE_BITS:
            value = max(value, 0.95)
            notes.append(f"near-duplicate of its first article ({d} bits)")
        return value, notes

    @staticmethod
    def _explain(story_id: int, notes: list[str], seen: list[tuple[float, str, set[int]]]) -> str:
        """The shared keys behind the chosen story's score, and the notes of the adjustments that made it."""
        matched = sorted(((mass, key) for mass, key, holders in seen if story_id in holders), reverse=True)
        top = ", ".join(k for _, k in matched[:5])
        return "; ".join([f"shared {top}" if top else "nothing shared", *notes])

    def assign(self, feats: StoryFeatures, rules: Iterable[str], now: datetime) -> StoryDecision:
        """Join the best-scoring active story if it scores at least `join_score`, else start a new one."""
        rules = frozenset(rules)
        seen: list[tuple[float, str, set[int]]] = []
        scored = self._evaluate(feats, rules, now, seen)
        hours = int(self.window.total_seconds() // 3600)
        if not scored:
            return StoryDecision(None, 0.0, f"new story: no story within {hours} h shares enough evidence")
        story_id, (value, notes) = max(scored.items(), key=lambda item: (item[1][0], -item[0]))
        why = self._explain(story_id, notes, seen)
        if value >= self.join_score:
            return StoryDecision(story_id, round(value, 3), f"joined story {story_id} ({value:.2f}): {why}")
        return StoryDecision(None, round(value, 3), f"new story: best was story {story_id} ({value:.2f}): {why}")

    def add(self, story_id: StoryId, feats: StoryFeatures, rules: Iterable[str], now: datetime) -> None:
        """Record an article of `story_id` (a new story's id is its first article's id)."""
        t = max(0, _minutes(self._reference_time(feats, now)))
        rules = self._intern(frozenset(rules))
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(t, feats.fingerprint, rules, feats.script)
        else:
            story.first, story.last = min(story.first, t), max(story.last, t)
            story.rules = self._intern(story.rules | rules)
            if feats.script not in story.scripts:
                story.scripts = self._intern(story.scripts + " " + feats.script)
        if not set(feats.lead_numbers) <= set(story.heads):
            story.heads = tuple(sorted(set(story.heads) | feats.lead_numbers))
        story.size += 1
        self._articles += 1
        for key in feats.evidence():
            key_id = self._key_ids.get(key)
            if key_id is None:
                key_id = self._key_ids[key] = len(self._df)
                self._df.append(0)
                self._postings.append(array("I"))
            self._df[key_id] += 1
            posting = self._postings[key_id]
            if story_id not in posting[-16::2]:  # recent entry for this story already there
                posting.append(story_id)
                posting.append(max(t, posting[-2]) if len(posting) > 1 else t)  # keep minutes sorted

    def _intern(self, value):
        return self._interned.setdefault(value, value)

    def prune(self, before: datetime) -> int:
        """Forget stories whose last article is older than `before`, and their postings; return how many."""
        cutoff = _minutes(before)
        gone = {s for s, story in self._stories.items() if story.last < cutoff}
        for story_id in gone:
            del self._stories[story_id]
        for key_id, posting in enumerate(self._postings):
            if posting and posting[1] < cutoff:
                keep = array("I")
                for i in range(0, len(posting), 2):
                    if posting[i] not in gone:
                        keep.extend(posting[i:i + 2])
                self._postings[key_id] = keep
        return len(gone)
