"""Text folding, tokenising and the per-article TextIndex that every rule is evaluated against.

Pure: stdlib only, no I/O. The rule language (monitor.rules.query) relies on `fold` and `tokenize` here.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Iterable, Mapping

# Diacritic blocks dropped when folding: the generic combining marks used with Latin, Greek and Cyrillic
# after NFKD, plus Hebrew points and Arabic harakat, which are optional vowel signs. Script-specific
# marks that carry meaning (Indic vowel signs, for instance) are kept.
_DROPPED_MARKS = (
    (0x0300, 0x036F), (0x0483, 0x0489), (0x0591, 0x05C7), (0x064B, 0x065F), (0x0670, 0x0670),
    (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F),
)
# Letters whose diacritic is not a combining mark, so NFKD leaves them alone; searchers expect
# "Bialiatski" to find "Białiatski".
_LETTER_FOLDS = {
    "ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ŧ": "t", "ı": "i", "ŀ": "l", "ƚ": "l",
    "æ": "ae", "œ": "oe", "ð": "d", "þ": "th",
}
_FOLD_TABLE: dict[int, str | None] = {
    **{cp: None for lo, hi in _DROPPED_MARKS for cp in range(lo, hi + 1)},
    **{ord(k): v for k, v in _LETTER_FOLDS.items()},
}
_BREVE = "\u0306"

# ASCII bytes that are not letters or digits become spaces and A-Z become a-z: one C-level pass that
# turns most of an article into space-separated tokens.
_ASCII_TABLE = bytes(
    (b + 32 if 65 <= b <= 90 else b) if b >= 128 or chr(b).isalnum() else 32 for b in range(256)
)

_FOLD_CACHE_LIMIT = 200_000


def _fold_token(token: str) -> str:
    s = token.casefold()
    if s.isascii():
        return s
    s = unicodedata.normalize("NFKD", s)
    if _BREVE in s:
        # й and ў are letters of their own in Russian and Belarusian (мой ≠ мои), not и/у with an accent.
        s = s.replace("и" + _BREVE, "й").replace("у" + _BREVE, "ў")
    s = s.translate(_FOLD_TABLE)
    return s or token.casefold()


class _FoldCache(dict):
    """token -> folded token; articles repeat their words, so each distinct token is folded once."""

    def __missing__(self, token: str) -> str:
        folded = self[token] = _fold_token(token)
        return folded


_FOLDED = _FoldCache()


def fold(s: str) -> str:
    """Fold a string the way tokens are folded: casefold, NFKD, drop diacritics, ё→е; й, ў kept."""
    return _fold_token(s)


@functools.cache
def _token_re() -> re.Pattern[str]:
    """The canonical token pattern: a letter or digit, then letters, digits and combining marks.

    Marks are part of a token so that decomposed text ("e" + U+0301) and Indic vowel signs do not split
    words. The class is built from the Unicode database once, on first use (about 20 ms).
    """
    marks = [cp for cp in range(0x20000) if unicodedata.category(chr(cp)).startswith("M")]
    marks += range(0xE0100, 0xE01F0)  # variation selectors supplement
    ranges: list[list[int]] = []
    for cp in marks:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    mark_class = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)
    return re.compile(rf"[^\W_](?:[^\W_]|[{mark_class}])*")


def tokenize(s: str) -> list[tuple[str, int, int]]:
    """Split `s` into (folded token, start, end); offsets index into `s`.

    A token is a maximal run of letters, digits and combining marks that starts with a letter or digit.
    Everything else separates tokens: spaces, punctuation, underscores, apostrophes and hyphens
    ("don't" -> don, t; "covid-19" -> covid, 19).
    """
    return [(_FOLDED[m.group()], m.start(), m.end()) for m in _token_re().finditer(s)]


# Common non-ASCII punctuation and spaces of news text, and ё (folds to е): replaced one char for one
# char, so offsets survive, before looking for words that need the careful path.
_CHEAP_REPLACEMENTS = tuple((c, " ") for c in "«»—–…“”„‘’‚‹›\u00a0\u2009\u202f") + (("ё", "е"),)
# Anything but a space and the letters and digits that are their own fold. Words without such chars
# are already folded tokens; words with them (names with diacritics, other scripts) are re-tokenised.
_NEEDS_CARE = re.compile(r"[^ a-z0-9\u0430-\u044f\u0454\u0456\u045e\u0491]")


# How raw tokens sit in the clean text: None when unknown (find them one by one), else the words that
# were split further, as (index among the space-separated words, number of tokens), in order.
_Layout = list[tuple[int, int]] | None


def _split_words(text: str) -> tuple[str, list[str], list[str], _Layout]:
    """Fast tokenising: (clean text with the same char offsets as `text`, raw tokens, folded tokens,
    layout of the raw tokens among the clean text's space-separated words).

    Raw tokens are substrings of the clean text, in order, and equal those of `tokenize(text)`. ASCII
    punctuation and whitespace become spaces and ASCII capitals lower case in one bytes.translate; a
    text with other characters is lower-cased, and only the words still holding characters outside
    a-z, 0-9 and the Cyrillic alphabet go through the canonical regex and `fold`.
    """
    if text.isascii():
        clean = text.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
        words = clean.split()
        return clean, words, words, []
    clean = text.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE).decode("utf-8", "surrogatepass")
    lowered = clean.lower()
    if len(lowered) == len(clean):  # every char lower-cased to one char, so offsets still hold
        for old, new in _CHEAP_REPLACEMENTS:
            lowered = lowered.replace(old, new)
        clean = lowered
    words = list(filter(None, clean.split(" ")))
    careful = [m.start() for m in _NEEDS_CARE.finditer(clean)]
    if not careful:
        return clean, words, words, []
    if len(careful) * 4 > len(words):  # mostly other scripts or accents: fold every word
        raw = _resplit(words)
        return clean, raw, list(map(_FOLDED.__getitem__, raw)), [] if raw is words else None
    return (clean, *_patch_words(clean, words, careful))


def _resplit(words: list[str]) -> list[str]:
    if "".join(words).isalnum():
        return words
    pattern = _token_re()
    out: list[str] = []
    for word in words:
        if word.isalnum():
            out.append(word)
        else:
            out.extend(pattern.findall(word))
    return out


def _patch_words(clean: str, words: list[str], careful: list[int]) -> tuple[list[str], list[str], _Layout]:
    """Re-tokenise and fold only the space-separated words that contain the `careful` offsets."""
    pattern = _token_re()
    raw: list[str] = []
    folded: list[str] = []
    layout: list[tuple[int, int]] = []
    i = 0
    last_end = -1
    for at in careful:
        if at < last_end:
            continue  # same word as the previous offset
        start = clean.rfind(" ", 0, at) + 1
        end = clean.find(" ", at)
        last_end = end = len(clean) if end < 0 else end
        if start == end:
            continue
        # Every copy of this word also holds a careful char, so the next copy in `words` is this one.
        j = words.index(clean[start:end], i)
        raw += words[i:j]
        folded += words[i:j]
        tokens = pattern.findall(words[j])
        raw += tokens
        folded += map(_FOLDED.__getitem__, tokens)
        layout.append((j, len(tokens)))
        i = j + 1
    raw += words[i:]
    folded += words[i:]
    return raw, folded, layout


class _FieldIndex:
    """One field of an article: its tokens, plus lookups built lazily because most rules never ask."""

    __slots__ = ("_first", "_last", "_layout", "_positions", "_sorted", "_starts", "clean", "raw", "text",
                 "tokens", "vocabulary")

    # Tokens looked up by plain scans before the first/last tables pay off.
    _SCANS_BEFORE_FIRST_LAST = 8

    def __init__(self, text: str):
        self.text = text
        self.clean, self.raw, self.tokens, self._layout = _split_words(text)
        self._starts: list[int] | None = None
        self.vocabulary = frozenset(self.tokens)
        self._sorted: list[str] | None = None
        self._positions: dict[str, list[int]] = {}
        self._first: dict[str, int] | None = None
        self._last: dict[str, int] = {}

    def sorted_vocabulary(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.vocabulary)
        return self._sorted

    def positions(self, token: str) -> list[int]:
        found = self._positions.get(token)
        if found is not None:
            return found
        if token not in self.vocabulary:
            return []
        tokens = self.tokens
        if len(self._positions) < self._SCANS_BEFORE_FIRST_LAST:
            first, last = tokens.index(token), len(tokens) - 1
        else:
            if self._first is None:
                # First and last position of every token, built by C loops (a dict keeps the last value
                # written). Most tokens of an article occur once, so these two answer them outright.
                n = len(tokens)
                self._last = dict(zip(tokens, range(n), strict=True))
                self._first = dict(zip(reversed(tokens), range(n - 1, -1, -1), strict=True))
            first, last = self._first[token], self._last[token]
        found = [first]
        i = first
        try:
            while i < last:  # list.index scans in C
                i = tokens.index(token, i + 1, last + 1)
                found.append(i)
        except ValueError:
            pass
        self._positions[token] = found
        return found

    def has_prefix(self, stem: str) -> bool:
        vocab = self.sorted_vocabulary()
        i = bisect_left(vocab, stem)
        return i < len(vocab) and vocab[i].startswith(stem)

    def prefixed(self, stem: str) -> list[str]:
        vocab = self.sorted_vocabulary()
        # U+10FFFF is not a letter, so no token holds it: every token starting with stem sorts before.
        return vocab[bisect_left(vocab, stem):bisect_left(vocab, stem + "\U0010ffff")]

    def span(self, position: int) -> tuple[int, int]:
        if self._starts is None:
            self._starts = self._token_starts()
        start = self._starts[position]
        return start, start + len(self.raw[position])

    def _token_starts(self) -> list[int]:
        """Start offsets of all tokens, computed once, the first time evidence needs one."""
        if self._layout is None:
            return self._find_starts(self.raw, 0)
        # Piece k of clean.split(" ") starts at the sum of the earlier pieces' lengths plus k; C loops.
        pieces = self.clean.split(" ")
        word_starts = list(itertools.compress(
            map(operator.add, itertools.accumulate(map(len, pieces), initial=0), itertools.count()), pieces))
        if not self._layout:
            return word_starts
        starts: list[int] = []
        done = 0  # words handled
        for word, count in self._layout:
            starts += word_starts[done:word]
            first = len(starts)
            starts += self._find_starts(self.raw[first:first + count], word_starts[word])
            done = word + 1
        starts += word_starts[done:]
        return starts

    def _find_starts(self, tokens: list[str], cursor: int) -> list[int]:
        # Each token is the first occurrence of its text after the previous token: only separators,
        # which a token cannot start with, lie in between.
        starts = []
        for token in tokens:
            cursor = self.clean.find(token, cursor)
            starts.append(cursor)
            cursor += len(token)
        return starts


class TextIndex:
    """Built ONCE per article; every rule is evaluated against it.

    Per field: folded tokens in order, the vocabulary (a set, and sorted for prefix lookups with bisect),
    token -> positions, and token -> character span, the last two computed on demand and kept.
    """

    __slots__ = ("_fields", "_prefix_memo", "_sorted", "_vocabulary")

    def __init__(self, fields: dict[str, _FieldIndex]):
        self._fields = fields
        self._vocabulary: frozenset[str] | None = None
        self._sorted: list[str] | None = None
        self._prefix_memo: dict[str, bool] = {}

    @classmethod
    def build(cls, fields: Mapping[str, str]) -> TextIndex:
        """Index each named field's text, e.g. {"title": "...", "text": "..."}."""
        if len(_FOLDED) > _FOLD_CACHE_LIMIT:
            _FOLDED.clear()
        return cls({name: _FieldIndex(text or "") for name, text in fields.items()})

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    def text(self, field: str) -> str:
        """The original text of `field` ("" for a field the article does not have)."""
        entry = self._fields.get(field)
        return entry.text if entry else ""

    def tokens(self, field: str) -> list[str]:
        """Folded tokens of `field`, in order; a token's list index is its position."""
        entry = self._fields.get(field)
        return entry.tokens if entry else []

    def span(self, field: str, position: int) -> tuple[int, int]:
        """Character offsets (start, end) in `text(field)` of the token at `position`."""
        return self._fields[field].span(position)

    def positions(self, field: str, token: str) -> list[int]:
        """Sorted positions of the folded `token` in `field`."""
        entry = self._fields.get(field)
        return entry.positions(token) if entry else []

    def has(self, field: str, token: str) -> bool:
        entry = self._fields.get(field)
        return entry is not None and token in entry.vocabulary

    def prefixed(self, field: str, stem: str) -> list[str]:
        """Distinct folded tokens of `field` that start with `stem`, in O(log V + matches)."""
        entry = self._fields.get(field)
        return entry.prefixed(stem) if entry else []

    def vocabulary(self, field: str | None = None) -> frozenset[str]:
        """Every distinct folded token of `field`, or of every field."""
        if field is not None:
            entry = self._fields.get(field)
            return entry.vocabulary if entry else frozenset()
        if self._vocabulary is None:
            sets: Iterable[frozenset[str]] = (f.vocabulary for f in self._fields.values())
            self._vocabulary = frozenset().union(*sets)
        return self._vocabulary

    def has_prefix(self, stem: str, field: str | None = None) -> bool:
        """Whether `field` (default: any field) has a token starting with `stem`, in O(log V)."""
        if field is not None:
            entry = self._fields.get(field)
            return entry is not None and entry.has_prefix(stem)
        known = self._prefix_memo.get(stem)
        if known is None:
            if self._sorted is None:
                self._sorted = sorted(self.vocabulary())
            i = bisect_left(self._sorted, stem)
            known = i < len(self._sorted) and self._sorted[i].startswith(stem)
            self._prefix_memo[stem] = known
        return known
