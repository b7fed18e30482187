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


def _split_words(text: str) -> tuple[str, list[str]]:
    """Fast tokenising: (clean text with the same char offsets as `text`, raw tokens in order).

    ASCII punctuation becomes spaces and ASCII capitals lower case in one bytes.translate; `split`
    then yields tokens, and only the few words still holding non-ASCII punctuation or marks go
    through the canonical regex. The result equals `_token_re().findall` on `text` (up to ASCII case).
    """
    if text.isascii():
        clean = text.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
        return clean, clean.split()
    clean = text.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE).decode("utf-8", "surrogatepass")
    words = clean.split()
    odd = list(itertools.compress(range(len(words)), map(operator.not_, map(str.isalnum, words))))
    if not odd:
        return clean, words
    pattern = _token_re()
    raw: list[str] = []
    previous = 0
    for i in odd:
        raw.extend(words[previous:i])
        raw.extend(pattern.findall(words[i]))
        previous = i + 1
    raw.extend(words[previous:])
    return clean, raw


class _FieldIndex:
    """One field of an article: its tokens, plus lookups built lazily because most rules never ask."""

    __slots__ = ("_cursor", "_positions", "_scans", "_sorted", "_spans", "clean", "raw", "text", "tokens",
                 "vocabulary")

    # After this many single-token scans it is cheaper to index every token position at once.
    _SCANS_BEFORE_FULL_INDEX = 12

    def __init__(self, text: str):
        self.text = text
        self.clean, self.raw = _split_words(text)
        self.tokens: list[str] = self.raw if text.isascii() else list(map(_FOLDED.__getitem__, self.raw))
        self.vocabulary = frozenset(self.tokens)
        self._sorted: list[str] | None = None
        self._positions: dict[str, list[int]] = {}
        self._scans = 0
        self._spans: list[tuple[int, int]] = []
        self._cursor = 0

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
        if self._scans >= self._SCANS_BEFORE_FULL_INDEX:
            self._index_all()
            return self._positions[token]
        self._scans += 1
        found = []
        tokens, i = self.tokens, -1
        try:
            while True:  # list.index scans in C; far cheaper than a Python loop over every token
                i = tokens.index(token, i + 1)
                found.append(i)
        except ValueError:
            pass
        self._positions[token] = found
        return found

    def _index_all(self) -> None:
        table: dict[str, list[int]] = {}
        for i, token in enumerate(self.tokens):
            hit = table.get(token)
            if hit is None:
                table[token] = [i]
            else:
                hit.append(i)
        self._positions = table
        self._scans = -1  # never index again

    def prefixed(self, stem: str) -> list[str]:
        vocab = self.sorted_vocabulary()
        i = bisect_left(vocab, stem)
        out = []
        while i < len(vocab) and vocab[i].startswith(stem):
            out.append(vocab[i])
            i += 1
        return out

    def span(self, position: int) -> tuple[int, int]:
        # Offsets are found on demand and only up to the highest position asked for: evidence is
        # needed for the few rules that match, usually early in the text.
        spans, raw, clean = self._spans, self.raw, self.clean
        cursor = self._cursor
        while len(spans) <= position:
            token = raw[len(spans)]
            start = clean.find(token, cursor)
            cursor = start + len(token)
            spans.append((start, cursor))
        self._cursor = cursor
        return spans[position]


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

    def vocabulary(self) -> frozenset[str]:
        """Every distinct folded token of every field."""
        if self._vocabulary is None:
            sets: Iterable[frozenset[str]] = (f.vocabulary for f in self._fields.values())
            self._vocabulary = frozenset().union(*sets)
        return self._vocabulary

    def has_prefix(self, stem: str) -> bool:
        """Whether any field has a token starting with `stem`."""
        known = self._prefix_memo.get(stem)
        if known is None:
            if self._sorted is None:
                self._sorted = sorted(self.vocabulary())
            i = bisect_left(self._sorted, stem)
            known = i < len(self._sorted) and self._sorted[i].startswith(stem)
            self._prefix_memo[stem] = known
        return known
