"""Which story does a new article join? Its features (the evidence) and the resident story index.

Pure: data in, decisions out, explicit `now`; the store keeps features, `StoryIndex.from_rows` rebuilds.
Stories: an inverted index of evidence keys (name keys across spellings and scripts, places, headline and
body numbers, stemmed terms) -> (story, minute, articles carrying it). Score = IDF-weighted share of the
article's evidence the story holds as its own (a key counts fully once half the story's articles carry it;
shared wording counts only up to the shared names, numbers and places), x0.4 when headline numbers differ,
x0.5 on weak evidence, x0.5 when the headlines name different people; join at >= 0.28, within 96 h of the
story's latest article and 10 days of its first; a report that says it comes later in an ongoing event
("third day", "ends") joins the story whose headline subject it names, one whose headline shares the story's
full name at 0.6 x 0.28. Release stories take follow-ups naming their freed people for 60 days. Pairwise P/R:
rounds 1.000/1.000, held-out cases 1.000/0.833; 1,000 formulaic reports -> 957 stories; bench/bench_stories.py.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.decide.copies import NEAR_DUPLICATE_BITS, body_tokens, simhash
from monitor.models import StoryId
from monitor.text.lexicon import STOP_WORDS, WORD, cyrillic_count, name_key, place
from monitor.text.numbers import NUMBER_WORDS, numbers
from monitor.text.sentences import article_index, clean_text, split_lead
from monitor.text.tokens import TextIndex, fold

# -- article features ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoryFeatures:
    """What an article says, compactly: the evidence story assignment compares.

    entities: name keys (see `name_key`) of capitalised words that are not places; places: canonical
    keys; numbers: counts anywhere; lead_numbers: counts in the title or first two sentences (the
    headline numbers); terms: stemmed distinctive words, title and lead first; script: "cyrl" or "latn";
    lead_entities: the name keys of the title and lead; freed: set by the decider from the release facts.
    """

    entities: frozenset[str]
    places: frozenset[str]
    numbers: frozenset[int]
    lead_numbers: frozenset[int]
    terms: frozenset[str]
    published: datetime | None
    fingerprint: int
    script: str = "latn"
    lead_entities: frozenset[str] = frozenset()  # name keys in the title or lead: who the article is about
    freed: tuple[str, ...] = ()  # name keys ("alks hrbz") of the people the article reports freed

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
                "fingerprint": self.fingerprint, "script": self.script, "lead_entities": sorted(self.lead_entities),
                "freed": list(self.freed)}

    @classmethod
    def from_dict(cls, data: dict) -> StoryFeatures:
        published = data.get("published")
        return cls(frozenset(data["entities"]), frozenset(data["places"]), frozenset(data["numbers"]),
                   frozenset(data["lead_numbers"]), frozenset(data["terms"]),
                   datetime.fromisoformat(published) if published else None, int(data["fingerprint"]),
                   data.get("script", "latn"), frozenset(data.get("lead_entities", ())),
                   tuple(data.get("freed", ())))


_MAX_ENTITIES = 24
_MAX_TERMS = 12
_MIN_NUMBER = 3  # "two days", "2-1": too common to tell stories apart


def _is_title_case(title: str) -> bool:
    words = [w for w in WORD.findall(title) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) > 0.6 * len(words)


_CAPITAL = "[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁІЎЄ]"
# A capital not after a letter, digit or apostrophe: the lookbehind comes after the capital (and looks at it
# too), so that the pattern starts with the capital's class and the regex engine skips from capital to capital
# (before, it tried the lookbehind at every character: 6 times slower).
_CAPITALISED = re.compile(rf"{_CAPITAL}(?<![\w'’]{_CAPITAL})[^\W\d_]+(?:['’][^\W\d_]+)?")
# what comes before a word that starts a sentence, a quote or a list item
_INITIAL = re.compile(r"(?:[.!?…][\"'»”’)]*\s+|\n\s*|[—–«\"“:]\s*|^\s*-\s*)$")


# after a word: a year joined to it ("Zapad-2025", «Захід-2025»): an event's name, wherever the word stands
_YEAR_AFTER = re.compile(r"[-‐–]?\s?(?:19|20)\d\d(?!\d)")


# A word after a space that follows none of these (nor a space) starts no sentence, quote or list item: _INITIAL
# ends in a space only after whitespace, a mark, a closing quote or bracket, a dash, an opening quote or a colon
_INITIAL_BEFORE_SPACE = frozenset('.!?…"\'»”’)—–«“:-')


def _names(text: str) -> Iterator[tuple[str, bool]]:
    """(word, sure) for capitalised words of `text` that may be names: sure unless the word starts a
    sentence on its own (there a capital says nothing)."""
    previous_end = -2
    pending: str | None = None  # a sentence-initial word, sure only if the next word is capitalised too
    initial = _INITIAL.search
    for match in _CAPITALISED.finditer(text):
        word, start = match.group(), match.start()
        if pending is not None:
            yield pending, start == previous_end + 1 and text[previous_end] == " "
            pending = None
        after_word = start > 1 and text[start - 1] == " " and (before := text[start - 2]) not in \
            _INITIAL_BEFORE_SPACE and not before.isspace()
        if (start == 0 or not after_word and initial(text, max(0, start - 6), start)) \
                and not _YEAR_AFTER.match(text, match.end()):
            pending = word
        else:
            yield word, True
        previous_end = match.end()
    if pending is not None:
        yield pending, False


def _same_subject(mine: frozenset[str], theirs: frozenset[str]) -> bool:
    """Whether an article's headline subjects and a story's name someone in common: a full name both give, or
    a surname both give unless their full names differ (Raman Lyonak and Iryna Laonak share a surname key)."""
    shared = mine & theirs
    if any(" " in key for key in shared):
        return True
    full = {key.rpartition(" ")[2]: key for key in mine if " " in key}
    others = {key.rpartition(" ")[2]: key for key in theirs if " " in key}
    if full and others and not full.keys() & others.keys():
        return False  # each names its own people ("Halina Marozava", "Andrei Kuzniatsou"), whoever else they name
    return any(key not in full or key not in others or full[key] == others[key] for key in shared)


_NAME_RUN = re.compile(rf"{_CAPITAL}(?<![\w'’]{_CAPITAL})[^\W\d_]+(?:[ ]{_CAPITAL}[^\W\d_]+){{0,2}}")


def _subjects(text: str, known: Counter[str]) -> list[str]:
    """Who `text` is about: the keys of its runs of known names, whole ("Natallia Sheika" -> "ntl sk"), so
    that two people who share a surname key are still two people."""
    out = []
    for run in _NAME_RUN.finditer(text):
        keys = [k for word in run.group().split()
                if not place(fold(word)) and (k := _SAME_NAME.get(key := name_key(word), key)) in known]
        if keys:
            out.append(" ".join(keys))
    return out


def _title_keys(title: str) -> frozenset[str]:
    """The name keys of every capitalised word of a title that may be a name, sentence-initial or not."""
    return frozenset(name[0] for word, _ in _names(title) if (name := _NAMES[word]) is not None)


def story_text(title: str, text: str) -> TextIndex:
    """The article as its fingerprint and story features read it: the title, and the lead and body of its text
    without template lines (tokenised once, for both)."""
    return article_index(title, clean_text(text))


def features(title: str, text: str, published: datetime | None, *, index: TextIndex | None = None,
             fingerprint: int | None = None) -> StoryFeatures:
    """Extract the evidence of one article (tokenise once; about 1 ms for 5 KB). `index` (story_text of the
    same title and text) and `fingerprint` are what the caller has computed already."""
    if index is None:
        index = story_text(title, text)
    lead_text, body_text = index.text("lead"), index.text("body")
    fp = simhash(body_tokens(index)) if fingerprint is None else fingerprint

    vocabulary = index.vocabulary()
    place_of = _places_of(vocabulary)
    places = set(place_of.values())

    entity_counts: Counter[str] = Counter()
    unsure: Counter[str] = Counter()
    name_words: set[str] = set()
    title_case = _is_title_case(title)
    name_of = _NAMES
    for source, weight in ((title, 3), (lead_text, 2), (body_text, 1)):
        headline = source is title and title_case  # (a lead that is the title's very string counts as it)
        for word, sure in _names(source):
            name = name_of[word]
            if name is None:
                continue
            key, folded = name
            if sure and not headline:
                entity_counts[key] += weight
                name_words.add(folded)
            else:
                unsure[key] += weight
    for key, count in unsure.items():  # headline words and sentence starters known as names elsewhere
        if key in entity_counts:
            entity_counts[key] += count
    entities = frozenset(k for k, _ in entity_counts.most_common(_MAX_ENTITIES))
    lead_entities = frozenset(_subjects(title, entity_counts) + _subjects(lead_text, entity_counts))

    lead_numbers = {v for v, _, _ in numbers(title, _MIN_NUMBER, vocabulary=_words(index, "title"))} | {
        v for v, _, _ in numbers(lead_text, _MIN_NUMBER, vocabulary=_words(index, "lead"))}
    # (the body's number words are looked for only when its tokens hold one, as they always were)
    body_words = not NUMBER_WORDS.keys().isdisjoint(index.vocabulary("body"))
    all_numbers = lead_numbers | {v for v, _, _ in numbers(body_text, _MIN_NUMBER, body_words,
                                                            vocabulary=_words(index, "body"),
                                                            spans=_spans(index, "body"))}

    # title words weigh 3, lead words 2, body words 1: one count of the stems of the fields repeated so (the
    # order in which stems first appear, which settles ties among the most common, is that of the words)
    title_tokens, lead_tokens = index.tokens("title"), index.tokens("lead")
    stem_of = {token: _STEMS[token] for token in vocabulary}
    for word in name_words:
        stem_of[word] = None
    term_counts = Counter(map(stem_of.__getitem__, title_tokens * 3 + lead_tokens * 2 + index.tokens("body")))
    term_counts.pop(None, None)
    terms = frozenset(k for k, _ in term_counts.most_common(_MAX_TERMS))

    letters = "".join(title_tokens[:20] + lead_tokens[:40])
    cyrillic = cyrillic_count(letters)
    script = "cyrl" if cyrillic * 2 > len(letters) else "latn"
    return StoryFeatures(entities, frozenset(places), frozenset(all_numbers), frozenset(lead_numbers), terms,
                         published, fp, script, lead_entities)


def _words(index: TextIndex, field: str) -> frozenset[str] | None:
    """The field's vocabulary where it holds every word of its text (numbers() then scans only for those)."""
    return index.vocabulary(field) if index.plain(field) else None


def _spans(index: TextIndex, field: str) -> Callable[[str], list[tuple[int, int]]]:
    """A folded token -> the spans of all its occurrences in the field."""
    return lambda token: index.first_spans(field, token, len(index.tokens(field)))


def _name(word: str) -> tuple[str, str] | None:
    """(name key, folded word) of a capitalised word that may be a name; None for stop words, number words,
    places, and keys too short to tell anyone apart."""
    folded = fold(word)
    if folded in STOP_WORDS or folded in NUMBER_WORDS or _place(folded):
        return None
    key = name_key(word)
    key = _SAME_NAME.get(key, key)
    return None if len(key) < 2 else (key, folded)


# names whose keys differ across languages though they name the same thing: Захад, Захід (x -> k) are Zapad
_SAME_NAME = {"zkd": "zpd"}


def _stem(token: str) -> str | None:
    """The stem a folded token counts for among an article's terms (its first 6 letters), or None for short
    words, stop words, number words, places and numbers."""
    if len(token) < 4 or token in STOP_WORDS or token in NUMBER_WORDS or _place(token) or token.isdigit():
        return None
    return token[:6]


class _Remembered(dict):
    """word -> what `make` says of it, computed once per word (articles repeat their words, and the same
    words come back in article after article); forgotten all at once past _REMEMBERED words."""

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, word: str):
        if len(self) > _REMEMBERED:
            self.clear()
        value = self[word] = self.make(word)
        return value


_REMEMBERED = 50_000  # words per table (~5-12 MB each at most)
_NAMES: _Remembered = _Remembered(_name)
_STEMS: _Remembered = _Remembered(_stem)
_PLACES: dict[str, str | None] = {}
_PLACED: set[str] = set()  # the words of _PLACES that are places (kept and forgotten with them)


def _place(word: str) -> str | None:
    """place(word), remembered: every article asks it of its whole vocabulary."""
    try:
        return _PLACES[word]
    except KeyError:
        found = _PLACES[word] = place(word)
        if found:
            _PLACED.add(word)
        return found


def _places_of(vocabulary: frozenset[str]) -> dict[str, str]:
    """word -> place of the words of `vocabulary` that are places; only the words never seen are asked."""
    unseen = vocabulary.difference(_PLACES)  # (looks each word up; `- _PLACES.keys()` would read every key)
    if len(_PLACES) + len(unseen) > _REMEMBERED:
        _PLACES.clear()
        _PLACED.clear()
        unseen = vocabulary
    for word in unseen:
        _place(word)
    return {word: found for word in vocabulary & _PLACED if (found := _place(word))}


# -- story assignment ----------------------------------------------------------------------------------

WINDOW = timedelta(hours=96)  # a story takes an article up to 4 days after its latest one (trials pause
#                               over a weekend; the fixture's trial reports are 79 h apart) ...
SPAN = timedelta(days=10)  # ... and up to 10 days after its first: joins never extend a story beyond it
FOLLOW_UP = timedelta(days=60)  # a release story takes follow-ups that name its freed people this long
JOIN_SCORE = 0.28
ONGOING_SHARE = 0.6  # a report that says it comes later in an ongoing event joins its story at 0.6 x JOIN_SCORE
_CORE_SHARE = 0.5  # a key found in half of a story's articles is fully its own
_POSTING_SCAN = 300  # newest entries read per key when gathering candidates
_RECENT = 8  # entries looked back when adding: a story's entry for the key is usually among them
_STOP_DF = 200
_MAX_LEADS = 24
_PACKED = {"e": 1, "t": 1 << 10, "h": 1 << 20}
_EPOCH = datetime(2000, 1, 1).timestamp()


def _minutes(t: datetime) -> int:
    return int((t.timestamp() - _EPOCH) // 60)


# A later report of an ongoing event says where in it it stands: "drills enter third day", "on the second day of
# the trial", "day 3", "for a fourth straight day", "protests enter second week"; «на третий день учений»,
# «трэці дзень суда», «третій день навчань», «3-й день». (Russian «другой день» is "another day": left out.)
_ORDINALS = (
    "втор", "трет", "четв[её]рт", "пят", "шест", "седьм", "восьм", "девят", "десят", "заключительн", "последн",  # ru
    "другі", "трэц", "чацв[её]рт", "шост", "сём", "апошн",  # be (пят, восьм: as ru)
    "друг(?:ий|ого|ому|им)", "четверт", "п['’ʼ]ят", "сьом", "останн",  # uk (трет, шост, восьм: as above)
)
_ONGOING = re.compile(
    r"(?i)\b(?:(?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|final|closing)"
    r"(?:\s+(?:straight|consecutive|successive))?\s+(?:day|week|stage|phase)"
    r"|ends|ended|wraps? up|wrapped up|conclude[sd]|завершил\w*|закончил\w*|завершен\w*|завяршыл\w*"
    r"|скончыл\w*|закінчил\w*"
    r"|day\s+(?:two|three|four|five|six|seven|eight|nine|ten|[2-9]|1[0-4])(?!\s*(?:%|(?:percent|years?|months?"
    r"|weeks?|days?|hours?|minutes?)\b))"
    rf"|(?:{'|'.join(_ORDINALS)})\w*\s+(?:день|дня|сутки|суток|недел\w*|дзень|дзяня|суткі|тыдз\w*|доби|добу|тижн\w*)"
    r"|\d{1,2}-?(?:й|го|і|ий|ый)\s+(?:день|дня|дзень|доби))\b")


def ongoing_cue(title: str, text: str) -> str | None:
    """The words of the title or lead that place this report later in an ongoing event, if any."""
    found = _ONGOING.search(title) or _ONGOING.search(split_lead(clean_text(text))[0])
    return found.group() if found else None


@dataclass(frozen=True)
class StoryDecision:
    """Join `story_id` (None: start a new story) with this score, and why."""

    story_id: StoryId | None
    score: float
    reason: str


_NO_LEADS: frozenset[str] = frozenset()  # one shared empty set: each frozenset() is a new 216-byte object


class _Story:
    """One story's summary: all the state a story keeps besides its posting entries (persistable as is)."""

    __slots__ = ("first", "fp", "freed", "heads", "last", "leads", "rules", "scripts", "size")

    def __init__(self, first: int, fp: int, rules: frozenset[str], script: str):
        self.first = self.last = first  # minutes of its first and latest article
        self.fp = fp  # its first article's fingerprint
        self.rules = rules
        self.scripts = script
        self.heads: tuple[int, ...] = ()  # headline numbers seen in its articles
        self.size = 0  # articles
        self.freed: tuple[str, ...] = ()  # name keys of the people its release reports name as freed
        self.leads: frozenset[str] = _NO_LEADS  # name keys of its articles' titles and leads (at most 24)


class StoryIndex:
    """Resident story summaries plus an inverted index: evidence key -> (story, minute, count) entries.

    A story is scored by what makes it distinctive, not by the union of what it absorbed: each shared key
    weighs by the share of the story's articles that carry it (full from half of them up), so a story of
    500 sentencing reports holds each defendant's name at 1/500 and cannot swallow the 501st. Joins are
    bounded in time: within WINDOW of the story's latest article and SPAN of its first, so a story cannot
    chain without end. Release stories also take later follow-ups (an interview weeks on) whose title or
    lead names one of their freed people, up to FOLLOW_UP after the release; another release report never
    joins that way. A story costs one small object plus 12 bytes per distinct key; `from_rows` rebuilds
    it from stored rows and `prune` drops idle stories. Document frequencies count the articles added.
    """

    def __init__(self, window: timedelta = WINDOW, join_score: float = JOIN_SCORE, span: timedelta = SPAN,
                 follow_up: timedelta = FOLLOW_UP):
        self.window = window
        self.span = max(span, window)
        self.follow_up = follow_up
        self.join_score = join_score
        self._key_ids: dict[str, int] = {}
        self._df = array("I")
        # per key id: story id, minute, count, story id, minute, count, ... (loaded from a snapshot: a read-only
        # view into its bytes until the key is first added to; or, read from the store on demand, its newest
        # entries only, None before the first read, with `_unread` the ints before them not read yet)
        self._postings: list[array | memoryview | None] = []
        self._unread = array("I")
        self._reader: Callable[[dict[int, tuple[int, int]]], dict[int, bytes]] | None = None
        self._stories: dict[int, _Story] = {}
        self._freed: dict[str, list[int]] = {}  # freed person's name key -> release stories naming them
        self._articles = 0
        self._interned: dict = {}
        # stories of the snapshot the index was loaded from (in id order), unpacked when first asked: how many are
        # not yet, and the snapshot's columns
        self._packed = 0
        self._columns: tuple | None = None

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, StoryFeatures, Iterable[str], datetime]],
                  window: timedelta = WINDOW) -> StoryIndex:
        """Rebuild from stored (story_id, features, rules, first_seen) rows, oldest first."""
        index = cls(window)
        for story_id, feats, rules, seen in rows:
            index.add(story_id, feats, rules, seen)
        return index

    SNAPSHOT_PARTS = ("meta", "keys", "df", "postings", "lengths", "story_ids", "story_times", "story_fps",
                      "story_rest", "story_rest_starts", "rule_sets")

    def snapshot(self) -> dict[str, bytes]:
        """The index as bytes, for the store to keep: arrays as they are, one line of text per story;
        `from_snapshot` loads it without adding an article again (its stories are unpacked when first asked)."""
        self._unpack_all()
        stories = {story_id: self._stories[story_id] for story_id in sorted(self._stories)}  # found by bisection
        rule_sets: dict[frozenset[str], int] = {}
        times, rest, starts = array("q"), [], array("Q", [0])
        for story in stories.values():
            times.extend((story.first, story.last, story.size))
            rest.append(json.dumps([rule_sets.setdefault(story.rules, len(rule_sets)), story.scripts, story.heads,
                                    sorted(story.leads), story.freed], ensure_ascii=False).encode())
            starts.append(starts[-1] + len(rest[-1]) + 1)
        meta = {"articles": self._articles, "window": self.window.total_seconds(), "span": self.span.total_seconds(),
                "follow_up": self.follow_up.total_seconds(), "join_score": self.join_score, "freed": self._freed}
        lengths = array("I", map(len, self._postings))
        postings = array("I")
        for posting in self._postings:
            postings.frombytes(memoryview(posting).cast("B"))
        return {"meta": json.dumps(meta).encode(), "keys": "\n".join(self._key_ids).encode(),
                "df": self._df.tobytes(), "postings": postings.tobytes(), "lengths": lengths.tobytes(),
                "story_ids": array("q", stories).tobytes(), "story_times": times.tobytes(),
                "story_fps": array("Q", (s.fp for s in stories.values())).tobytes(),
                "story_rest": b"\n".join(rest), "story_rest_starts": starts.tobytes(),
                "rule_sets": json.dumps([sorted(r) for r in rule_sets]).encode()}

    @classmethod
    def from_snapshot(cls, parts: Mapping[str, bytes],
                      postings: Callable[[dict[int, tuple[int, int]]], dict[int, bytes]] | None = None) -> StoryIndex:
        """The index `snapshot` gave, as it was: the same decisions as the index it was taken of (raises
        ValueError when a part is missing or torn, or it was taken with other windows or join score).
        `postings`, given for a snapshot without its "postings" part: reads {key id: (first, end entry)} of the
        kept postings, as bytes per key, on demand (a cycle reads the newest entries of the keys its articles
        carry, not every posting of the window)."""
        needed = [name for name in cls.SNAPSHOT_PARTS if name != "postings" or postings is None]
        missing = [name for name in needed if name not in parts]
        if missing:
            raise ValueError(f"story index snapshot without {', '.join(missing)}")
        index = cls()
        meta = json.loads(parts["meta"])
        if (meta["window"], meta["span"], meta["follow_up"], meta["join_score"]) != (
                index.window.total_seconds(), index.span.total_seconds(), index.follow_up.total_seconds(),
                index.join_score):
            raise ValueError("story index snapshot taken with other windows or join score")
        index._articles = meta["articles"]
        index._freed = {person: list(ids) for person, ids in meta["freed"].items()}
        keys = parts["keys"].decode().split("\n") if parts["keys"] else []
        index._key_ids = dict(zip(keys, range(len(keys)), strict=True))
        index._df.frombytes(parts["df"])
        lengths = array("I")
        lengths.frombytes(parts["lengths"])
        if not len(keys) == len(index._df) == len(lengths):
            raise ValueError("story index snapshot with postings that do not match its keys")
        if postings is not None:  # read on demand
            index._postings, index._unread, index._reader = [None] * len(keys), lengths, postings
        else:
            raw = memoryview(parts["postings"])
            if sum(lengths) * lengths.itemsize != len(raw):
                raise ValueError("story index snapshot with postings that do not match its keys")
            # each key's entries are a view into the stored bytes, not a copy: a key is copied out when an article
            # is added to it (most are only read, or not even that, in a process's life)
            entries, start = raw.cast(lengths.typecode), 0
            for length in lengths:
                index._postings.append(entries[start:start + length])
                start += length
            index._unread = array("I", bytes(4 * len(keys)))
        ids, times, fps, starts = array("q"), array("q"), array("Q"), array("Q")
        ids.frombytes(parts["story_ids"])
        times.frombytes(parts["story_times"])
        fps.frombytes(parts["story_fps"])
        starts.frombytes(parts["story_rest_starts"])
        rest = parts["story_rest"]
        if not (len(ids) * 3 == len(times) and len(ids) == len(fps) == len(starts) - 1
                and starts[-1] == len(rest) + 1 if ids else not rest):
            raise ValueError("story index snapshot with stories that do not match")
        index._packed = len(ids)
        index._columns = (ids, times, fps, rest, starts, [frozenset(r) for r in json.loads(parts["rule_sets"])])
        return index

    def _read(self, key_ids: Iterable[int], entries: int | None = None) -> None:
        """Make the keys' postings hold at least their newest `entries` entries (None: all), reading what they
        lack from the store (an index loaded with its postings, or built here, has them all)."""
        if self._reader is None:
            return
        postings, unread, wants = self._postings, self._unread, {}
        for key_id in key_ids:
            if postings[key_id] is None:
                postings[key_id] = array("I")
            left = unread[key_id] // 3
            if left:
                start = 0 if entries is None else max(0, left + len(postings[key_id]) // 3 - entries)
                if start < left:
                    wants[key_id] = (start, left)
        if wants:
            read = self._reader(wants)
            for key_id, (start, end) in wants.items():
                posting = array("I")
                posting.frombytes(read[key_id])
                if len(posting) != 3 * (end - start):
                    raise ValueError(f"story index posting {key_id} read torn")
                posting.extend(postings[key_id])
                postings[key_id], unread[key_id] = posting, 3 * start

    def _story(self, story_id: int) -> _Story | None:
        """The story's summary, unpacked from the snapshot the index was loaded from when first asked."""
        story = self._stories.get(story_id)
        if story is None and self._packed:
            ids = self._columns[0]
            row = bisect_left(ids, story_id)
            if row < len(ids) and ids[row] == story_id:  # (prune unpacks every story before it drops any)
                story = self._stories[story_id] = self._unpack(row)
                self._packed -= 1
        return story

    def _unpack(self, row: int) -> _Story:
        _, times, fps, rest, starts, rule_sets = self._columns
        rules, scripts, heads, leads, freed = json.loads(rest[starts[row]:starts[row + 1] - 1])
        story = _Story(times[3 * row], fps[row], self._intern(rule_sets[rules]), self._intern(scripts))
        story.last, story.size = times[3 * row + 1], times[3 * row + 2]
        story.heads, story.freed = tuple(heads), tuple(freed)
        story.leads = frozenset(leads) if leads else _NO_LEADS
        return story

    def _unpack_all(self) -> None:
        """Every story unpacked and every posting read whole."""
        if self._columns is not None:
            for story_id in self._columns[0]:
                self._story(story_id)
            self._columns = None
        self._read(range(len(self._postings)))
        self._reader = None

    def __len__(self) -> int:
        return len(self._stories) + self._packed

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

    def _stories_of(self, key_id: int, since: int) -> dict[int, int]:
        """Story -> articles carrying the key, over entries from minute `since` (the newest `_POSTING_SCAN`)."""
        posting = self._postings[key_id]
        n = len(posting) // 3
        # minutes are kept non-decreasing (see add), so the cut is a binary search over the minute slots
        cut = bisect_left(memoryview(posting)[1::3], since, max(0, n - _POSTING_SCAN))
        if n - cut == 1:
            return {posting[3 * cut]: posting[3 * cut + 2]}
        counts: dict[int, int] = {}
        for i in range(3 * cut, len(posting), 3):
            counts[posting[i]] = counts.get(posting[i], 0) + posting[i + 2]
        return counts

    def _active(self, story: _Story, t: int) -> bool:
        w = int(self.window.total_seconds() // 60)
        return story.last - w <= t <= min(story.last + w, story.first + int(self.span.total_seconds() // 60))

    def _evaluate(self, feats: StoryFeatures, rules: frozenset[str], now: datetime,
                  seen: list[tuple[float, str, dict[int, int]]]) -> dict[int, tuple[float, list[str]]]:
        """Score and notes of every active story sharing evidence with the article; `seen` collects, per
        key, (mass, key, stories holding it) for `_explain`."""
        t = _minutes(self._reference_time(feats, now))
        since = t - int((self.span + self.window).total_seconds() // 60)
        stories = self._stories
        shared: dict[int, list] = {}  # story -> [mass, kinds packed as names + terms << 10 + heads << 20]
        common = max(10, self._articles // 50)
        total = total_terms = 0.0
        evidence = feats.evidence()
        self._read((i for key in evidence if (i := self._key_ids.get(key)) is not None and not self._is_stop(i)),
                   _POSTING_SCAN)
        for key, weight in evidence.items():
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
            if kind in "he" and self._df[key_id] > common:
                packed = 0  # "1,100 political prisoners" or Viasna in every lead: background, not this event
            holders = self._stories_of(key_id, since)
            seen.append((mass, key, holders))
            for story_id, count in holders.items():
                story = stories.get(story_id) or self._story(story_id)
                if story is None:
                    continue
                share = min(1.0, count / (_CORE_SHARE * story.size))
                acc = shared.get(story_id)
                if acc is None:
                    acc = shared[story_id] = [0.0, 0, 0.0]
                acc[2 if kind == "t" else 0] += mass * share
                if share >= 1.0:  # only the story's own keys count as shared names, terms, headline numbers
                    acc[1] += packed
        out = {}
        # adjustments only lower a score, so stories below the floor even before them are skipped
        floor = self.join_score / 2 * total
        subjects = self._distinctive(feats.lead_entities)
        for story_id, (mass, packed, term_mass) in shared.items():
            # shared wording backs shared names, numbers and places up to their own weight, never alone:
            # formulaic reports ("sentenced ... to N years in a penal colony") share most of their words
            mass += min(term_mass, mass)
            story = stories[story_id]
            if mass < floor or not self._active(story, t):
                continue
            value, notes = self._adjust(story, feats, rules, mass, packed, total, total_terms)
            if subjects and not packed >> 20 and not _same_subject(subjects, story.leads) \
                    and self._distinctive(story.leads):
                value *= 0.5  # the headline is about someone else: another court case, another meeting
                notes.append("headline names differ")
            out[story_id] = value, notes
        return out

    def _distinctive(self, keys: frozenset[str]) -> frozenset[str]:
        """The name keys few articles carry (at most 3, or 2% of them): who an article is about, unlike
        Lukashenka, Viasna or the envoy, whom every report names."""
        limit = max(3, self._articles // 50)
        df, ids = self._df, self._key_ids
        return frozenset(k for k in keys if (i := ids.get("e:" + k.rpartition(" ")[2])) is None or df[i] <= limit)

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
        # (short formulaic texts land within a few bits of each other: not when their headlines name others)
        if d <= NEAR_DUPLICATE_BITS and (feats.lead_entities & story.leads or not (feats.lead_entities
                                                                                    and story.leads)):
            value = max(value, 0.95)
            notes.append(f"near-duplicate of its first article ({d} bits)")
        return value, notes

    @staticmethod
    def _continues(subjects: frozenset[str], rules: frozenset[str], story: _Story) -> bool:
        """Whether the article's distinctive title and lead subjects name the story's own headline subject, in
        the story's topic."""
        return bool(rules & story.rules) and _same_subject(subjects, story.leads)

    def _same_person(self, feats: StoryFeatures, rules: frozenset[str], story: _Story) -> bool:
        """Whether the article's headline subjects and the story's share a full name few articles carry, in
        the story's topic."""
        shared = self._distinctive(feats.lead_entities) & story.leads
        return bool(rules & story.rules) and any(" " in key for key in shared)

    def _follow_up(self, feats: StoryFeatures, t: int) -> tuple[int, str] | None:
        """The release story, within FOLLOW_UP of its first report, one of whose freed people this article
        names in its title or lead (every part of the name), and that person."""
        horizon = int(self.follow_up.total_seconds() // 60)
        found = None
        for person in feats.lead_entities:
            if " " in person:
                for story_id in self._freed.get(person, ()):
                    story = self._story(story_id)
                    if story is not None and story.first <= t <= story.first + horizon and (
                            found is None or story.first > self._stories[found[0]].first):
                        found = (story_id, person)
        return found

    @staticmethod
    def _explain(story_id: int, notes: list[str], seen: list[tuple[float, str, dict[int, int]]]) -> str:
        """The shared keys behind the chosen story's score, and the notes of the adjustments that made it."""
        matched = sorted(((mass, key) for mass, key, holders in seen if story_id in holders), reverse=True)
        top = ", ".join(k for _, k in matched[:5])
        return "; ".join([f"shared {top}" if top else "nothing shared", *notes])

    def assign(self, feats: StoryFeatures, rules: Iterable[str], now: datetime,
               release: bool = False, report: tuple[str, str] = ("", "")) -> StoryDecision:
        """Join the best-scoring active story if it scores at least `join_score`; else the best story whose
        headline subject and topic the report (its title and text) names when it says it comes later in an
        ongoing event; else the best story at ONGOING_SHARE of the score when the headlines share a full name;
        else, unless the article reports a release itself, the release story it follows up; else a new one."""
        rules = frozenset(rules)
        seen: list[tuple[float, str, dict[int, int]]] = []
        scored = self._evaluate(feats, rules, now, seen)
        hours = int(self.window.total_seconds() // 3600)
        best = max(scored.items(), key=lambda item: (item[1][0], -item[0])) if scored else None
        if best is not None and best[1][0] >= self.join_score:
            story_id, (value, notes) = best
            why = self._explain(story_id, notes, seen)
            return StoryDecision(story_id, round(value, 3), f"joined story {story_id} ({value:.2f}): {why}")
        # An exercise's third day, a trial's second: each day brings new places, units and witnesses, so a later
        # report shares less of its evidence than the first reports share with each other. It says so itself
        # ("drills enter third day"); when its headline also names the story's own subject (the exercise, the
        # defendant: a name few articles carry, so not the envoy every meeting names) in the story's topic,
        # evidence that would not do alone is enough: it joins the best story of that subject and topic,
        # whatever it shares besides ("Zapad drills enter third day with bomber flights over Barysau range"
        # shares 0.05 with day one). A report whose headline names the story's subject by full name (the
        # defendant on the day of the verdict) joins at ONGOING_SHARE x the join score without saying so.
        if scored and (cue := ongoing_cue(*report)):
            # the article's subjects (a capitalised title word counts even where a capital says nothing: "Zapad
            # drills enter third day"), taken once for every candidate story
            subjects = self._distinctive(feats.lead_entities | _title_keys(report[0]))
            going = [(value, -story_id) for story_id, (value, _) in scored.items()
                     if self._continues(subjects, rules, self._stories[story_id])]
            if going:
                story_id = -max(going)[1]
                value, notes = scored[story_id]
                why = self._explain(story_id, notes, seen)
                return StoryDecision(story_id, round(value, 3),
                                     f"joined story {story_id} ({value:.2f}) as a later report of an ongoing event "
                                     f"(\u201c{cue}\u201d): {why}")
        if best is not None and best[1][0] >= self.join_score * ONGOING_SHARE \
                and self._same_person(feats, rules, self._stories[best[0]]):
            story_id, (value, notes) = best
            why = self._explain(story_id, notes, seen)
            return StoryDecision(story_id, round(value, 3), f"joined story {story_id} ({value:.2f}) as a later "
                                                            f"report on the person its headline names: {why}")
        if not release and (follow := self._follow_up(feats, _minutes(self._reference_time(feats, now)))):
            story_id, person = follow
            return StoryDecision(story_id, round(best[1][0], 3) if best else 0.0,
                                 f"joined story {story_id} as a follow-up: its title or lead names {person}, "
                                 f"freed in that story's release")
        if best is None:
            return StoryDecision(None, 0.0, f"new story: no story within {hours} h shares enough evidence")
        story_id, (value, notes) = best
        why = self._explain(story_id, notes, seen)
        return StoryDecision(None, round(value, 3), f"new story: best was story {story_id} ({value:.2f}): {why}")

    def add(self, story_id: StoryId, feats: StoryFeatures, rules: Iterable[str], now: datetime) -> None:
        """Record an article of `story_id` (a new story's id is its first article's id)."""
        t = max(0, _minutes(self._reference_time(feats, now)))
        rules = self._intern(frozenset(rules))
        story = self._story(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(t, feats.fingerprint, rules, feats.script)
        else:
            story.first, story.last = min(story.first, t), max(story.last, t)
            story.rules = self._intern(story.rules | rules)
            if feats.script not in story.scripts:
                story.scripts = self._intern(story.scripts + " " + feats.script)
        if not set(feats.lead_numbers) <= set(story.heads):
            story.heads = tuple(sorted(set(story.heads) | feats.lead_numbers))
        if feats.lead_entities and len(story.leads) < _MAX_LEADS and not feats.lead_entities <= story.leads:
            # the first kept, then new ones in sorted order: the same leads in every process (a set's own order
            # is the strings' hashes', which change from one process to the next)
            room = _MAX_LEADS - len(story.leads)
            story.leads = story.leads | frozenset(sorted(feats.lead_entities - story.leads)[:room])
        for person in feats.freed:
            if person not in story.freed:
                story.freed += (person,)
                self._freed.setdefault(person, []).append(story_id)
        story.size += 1
        self._articles += 1
        evidence = feats.evidence()
        self._read((i for key in evidence if (i := self._key_ids.get(key)) is not None), _RECENT)
        for key in evidence:
            key_id = self._key_ids.get(key)
            if key_id is None:
                key_id = self._key_ids[key] = len(self._df)
                self._df.append(0)
                self._postings.append(array("I"))
                self._unread.append(0)
            self._df[key_id] += 1
            posting = self._postings[key_id]
            if not isinstance(posting, array):  # a view into the snapshot's bytes: copied out to be added to
                view, posting = posting, array("I")
                posting.frombytes(view.cast("B"))
                self._postings[key_id] = posting
            for i in range(len(posting) - 3, max(-1, len(posting) - 3 * _RECENT - 1), -3):
                if posting[i] == story_id:  # the story's recent entry for this key counts one more article
                    posting[i + 2] += 1
                    break
            else:
                posting.extend((story_id, max(t, posting[-2]) if posting else t, 1))  # keep minutes sorted

    def _intern(self, value):
        return self._interned.setdefault(value, value)

    def prune(self, before: datetime, releases_before: datetime | None = None) -> int:
        """Forget stories whose last article is older than `before` (release stories: whose first report is
        older than `releases_before`, so follow-ups can still find them), and their postings; return how many."""
        self._unpack_all()
        cutoff = _minutes(before)
        release_cutoff = _minutes(releases_before) if releases_before is not None else cutoff
        gone = {s for s, story in self._stories.items()
                if (story.first < release_cutoff if story.freed else story.last < cutoff)}
        for story_id in gone:
            del self._stories[story_id]
        for person in list(self._freed):
            kept = [s for s in self._freed[person] if s not in gone]
            if kept:
                self._freed[person] = kept
            else:
                del self._freed[person]
        oldest_kept = min(cutoff, release_cutoff)
        for key_id, posting in enumerate(self._postings):
            if posting and posting[1] < max(cutoff, oldest_kept):
                keep = array("I")
                for i in range(0, len(posting), 3):
                    if posting[i] not in gone:
                        keep.extend(posting[i:i + 3])
                self._postings[key_id] = keep
        return len(gone)
