"""Text folding, tokenising and the per-article TextIndex that every rule is evaluated against.

Building an index is C-level passes over the text (ASCII: one bytes.translate and a split; other text:
cp1251 encode + translate, with only the words holding other characters re-tokenised by the canonical
regex). Everything else is computed only when a rule asks, mostly by C-level substring search: the
vocabulary set; the search text (tokens joined by single spaces), where " token " finds a word and
" stem" the words with a prefix; positions (spaces counted before each occurrence); character spans
(a word's n-th whole-word occurrence in the clean text).

Pure: stdlib only, no I/O (importing registers a codecs error handler, "monitor-rules-careful"). The
rule language (monitor.rules.query) and the lexicon (monitor.text) rely on `fold` and `tokenize` here.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import itertools
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


# Text that is not ASCII is encoded to cp1251, whose 256 bytes hold ASCII and the Russian, Belarusian and
# Ukrainian alphabets, then one bytes.translate folds it: ASCII and Cyrillic capitals to lower case, ё to
# е, punctuation and spaces (with the common non-ASCII ones: «»—–…“”„‘’‚‹› and no-break space) to
# spaces. Everything else becomes the byte _CAREFUL, and so does each character cp1251 lacks (the
# encoder's error handler below), up to the next whitespace: the words holding it are re-tokenised from
# the original text with the canonical regex and `fold` (names with diacritics, other scripts).
_CAREFUL = 1
_CAREFUL_CHAR = chr(_CAREFUL)


def _cp1251_table() -> bytes:
    table = bytearray(_ASCII_TABLE[:128]) + bytes([_CAREFUL]) * 128
    table[_CAREFUL] = _CAREFUL  # a literal \x01 is a separator, but marking it careful is harmless
    for b in range(0xC0, 0xE0):  # А-Я -> а-я
        table[b] = b + 0x20
    for b in range(0xE0, 0x100):  # а-я
        table[b] = b
    simple = {"ё": "е", "Ё": "е", "є": "є", "Є": "є", "і": "і", "І": "і", "ў": "ў", "Ў": "ў", "ґ": "ґ", "Ґ": "ґ"}
    for char, folded in simple.items():
        table[char.encode("cp1251")[0]] = folded.encode("cp1251")[0]
    for char in "«»—–…“”„‘’‚‹›\u00a0":
        table[char.encode("cp1251")[0]] = 32
    return bytes(table)


_CP1251_TABLE = _cp1251_table()
_CAREFUL_ERRORS = "monitor-rules-careful"
_WHITESPACE = re.compile(r"\s")


def _mark_careful(exc: UnicodeError) -> tuple[str, int]:
    """cp1251 error handler: mark the unencodable run and the rest of its word (one call per word)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    space = _WHITESPACE.search(exc.object, exc.end)
    end = space.start() if space else len(exc.object)
    return _CAREFUL_CHAR * (end - exc.start), end


codecs.register_error(_CAREFUL_ERRORS, _mark_careful)

# Where tokens sit in the text when they are not whole space-separated words of the clean text: token
# position -> start offset, for the tokens of careful words.
_Starts = dict[int, int]


def _split_words(text: str) -> tuple[str, list[str], list[str], _Starts | list[int]]:
    """Fast tokenising: (clean text with the same char offsets as `text`, raw tokens, folded tokens,
    start offsets of the tokens that are not whole words of the clean text).

    Raw tokens equal those of `tokenize(text)` (folded, or as in `text` for re-tokenised words). In the
    clean text every char of `text` is a space (separators), a folded letter or digit, or _CAREFUL; a
    word without _CAREFUL is a folded token. The last item is a list of every token's start instead
    when most words were careful and the whole text went through the canonical regex.
    """
    if text.isascii():
        clean = text.encode("ascii").translate(_ASCII_TABLE).decode("ascii")
        words = clean.split()
        return clean, words, words, {}
    marked = text.encode("cp1251", _CAREFUL_ERRORS).translate(_CP1251_TABLE)
    clean = marked.decode("cp1251")
    words = clean.split()
    if _CAREFUL_CHAR not in clean:
        return clean, words, words, {}
    careful = _careful_words(marked, len(words), _CAREFUL, 32)
    if careful is None:  # mostly other scripts or accents: the canonical tokenizer
        found = [(m.group(), m.start()) for m in _token_re().finditer(text)]
        raw = [t for t, _ in found]
        return clean, raw, list(map(_FOLDED.__getitem__, raw)), [s for _, s in found]
    return (clean, *_patch_words(text, clean, words, careful))


def _careful_words(marked: bytes | str, words: int | None, careful: int | str, space: int | str) -> list[int] | None:
    """The offset of the first _CAREFUL of each word of the clean text (`marked`, as bytes or str) that holds
    one; None when more than a quarter of its `words` (if given) do (found before its last careful word)."""
    found: list[int] = []
    at = marked.find(careful)  # type: ignore[arg-type]
    while at >= 0:
        found.append(at)
        end = marked.find(space, at)  # type: ignore[arg-type]
        if end < 0:
            break
        at = marked.find(careful, end)  # type: ignore[arg-type]
        if words is not None and len(found) * 4 > words:
            return None
    return found


def _patch_words(text: str, clean: str, words: list[str], careful: list[int]) -> tuple[list[str], list[str], _Starts]:
    """Re-tokenise and fold, from `text`, the clean text's words that hold the `careful` offsets (one
    offset per word)."""
    pattern = _token_re()
    raw: list[str] = []
    folded: list[str] = []
    starts: _Starts = {}
    i = 0
    for at in careful:
        start = clean.rfind(" ", 0, at) + 1
        end = clean.find(" ", at)
        if end < 0:
            end = len(clean)
        # Every copy of this word also holds a careful char, so the next copy in `words` is this one.
        j = words.index(clean[start:end], i)
        raw += words[i:j]
        folded += words[i:j]
        for m in pattern.finditer(text, start, end):
            token = m.group()
            starts[len(raw)] = m.start()
            raw.append(token)
            folded.append(_FOLDED[token])
        i = j + 1
    raw += words[i:]
    folded += words[i:]
    return raw, folded, starts


_BLOCK = 512  # chars of search text per block of space counts (positions are counted from a block start)
_SPACE_IN_TOKEN = "\x1f"  # stands for a space inside a folded token in search text (see searchable)


def searchable(token: str) -> str:
    """`token` as it appears in TextIndex.search_text: a space inside it (a rare folding, e.g. of U+FDFA)
    becomes U+001F, so that single spaces separate tokens there."""
    return token.replace(" ", _SPACE_IN_TOKEN) if " " in token else token


class _FieldIndex:
    """One field of an article: its tokens, plus lookups built lazily because most rules never ask."""

    __slots__ = ("_careful", "_found", "_joined", "_padded", "_positions", "_space_counts", "_starts", "_vocabulary",
                 "clean", "raw", "text", "tokens")

    def __init__(self, text: str, split: tuple[str, list[str], list[str], _Starts | list[int]] | None = None):
        self.text = text
        self.clean, self.raw, self.tokens, careful = split or _split_words(text)
        if isinstance(careful, list):
            self._starts: list[int] | None = careful
            self._careful: _Starts = {}
        else:
            self._starts = None
            self._careful = careful
        self._vocabulary: frozenset[str] | None = None
        self._joined: str | None = None
        self._space_counts: list[int] | None = None
        self._positions: dict[str, list[int]] = {}  # token, or stem + "*", -> positions
        self._padded = ""
        self._found: dict[str, list[int]] = {}

    def piece(self, start: int, end: int) -> _FieldIndex | None:
        """The field index of `self.text[start:end]` as `_FieldIndex` would make it, from this one's clean text
        and tokens instead of tokenising again; None where that cannot be done (see _careful_piece).

        Each char of the clean text comes from its own char of the text (ASCII and cp1251 are one byte a
        char), so a piece without _CAREFUL has, as clean text, this clean text's slice, and its words are
        its tokens. (A slice of an ASCII text is ASCII and takes the same table; a non-ASCII text's cp1251
        table differs from the ASCII one only at \x01, which is _CAREFUL in its clean text.) A piece that
        runs to the end, cut beside a space, of a text whose tokens are all the words of its clean text (no
        _CAREFUL in it) takes the tail of this one's token list."""
        clean = self.clean[start:end]
        if _CAREFUL_CHAR in clean:
            return self._careful_piece(start, end, clean)
        whole = self.clean
        if end >= len(whole) > start and (start == 0 or whole[start - 1].isspace() or whole[start].isspace()) \
                and _CAREFUL_CHAR not in whole:
            tokens = self.tokens[len(self.clean[:start].split()):] if start else self.tokens
        else:
            tokens = clean.split()
        return _FieldIndex(self.text[start:end], (clean, tokens, tokens, {}))

    def _careful_piece(self, start: int, end: int, clean: str) -> _FieldIndex | None:
        """piece() of a piece that holds careful words, when this text and the piece alone are tokenised the
        same way (word by word, or wholly by the canonical regex) and the cuts are beside a space of the clean
        text (no careful word, which runs to the next whitespace, and no token crosses them): then the piece's
        clean text is this one's slice and its tokens and their starts are this one's between the cuts."""
        whole, text = self.clean, self.text[start:end]
        if text.isascii() or not ((start == 0 or whole[start - 1] == " ")
                                  and (end >= len(whole) or " " in (whole[end - 1], whole[end]))):
            return None  # (an ASCII piece takes the ASCII table, where \x01 is no _CAREFUL)
        careful = _careful_words(clean, len(clean.split()), _CAREFUL_CHAR, " ")
        if self._starts is not None:
            if careful is not None:
                return None
            first, last = bisect_left(self._starts, start), bisect_left(self._starts, end)
            return _FieldIndex(text, (clean, self.raw[first:last], self.tokens[first:last],
                                      [s - start for s in self._starts[first:last]]))
        if careful is None:
            return None
        offsets = list(self._careful.values())  # (positions and offsets both ascending)
        first, last = self._tokens_before(start, offsets), self._tokens_before(end, offsets)
        starts = {p - first: s - start for p, s in self._careful.items() if first <= p < last}
        return _FieldIndex(text, (clean, self.raw[first:last], self.tokens[first:last], starts))

    def _tokens_before(self, at: int, offsets: list[int]) -> int:
        """How many tokens of a word-by-word tokenised text start before `at` (beside a space of the clean text):
        the whole words before it, less those holding _CAREFUL, plus the tokens re-tokenised from those."""
        if at >= len(self.clean):
            return len(self.tokens)
        before = self.clean[:at]
        careful = _careful_words(before, None, _CAREFUL_CHAR, " ") or []
        return len(before.split()) - len(careful) + bisect_left(offsets, at)

    @property
    def plain(self) -> bool:
        """Whether every token is a whole word of the clean text: the text is ASCII and Cyrillic (cp1251)
        only, so its tokens are exactly its runs of letters and digits (no combining marks, no other scripts)."""
        return not self._careful and self._starts is None

    @property
    def vocabulary(self) -> frozenset[str]:
        if self._vocabulary is None:
            self._vocabulary = frozenset(self.tokens)
        return self._vocabulary

    def search_text(self) -> str:
        """The folded tokens separated by single spaces, with a space at each end. A token's occurrences
        are found by C-level substring search for " token " and its position is the number of spaces
        before it (counted between occurrences: one pass over the string in all)."""
        joined = self._joined
        if joined is None:
            joined = f" {' '.join(self.tokens)} "
            # Only re-tokenised (careful) words can hold a space; the others are words of the split text.
            if (self._careful or self._starts is not None) and joined.count(" ") != len(self.tokens) + 1:
                joined = f" {' '.join(map(searchable, self.tokens))} "
            self._joined = joined
        return joined

    def positions(self, token: str, prefix: bool = False) -> list[int]:
        """Sorted positions of `token`, or with `prefix` of every token starting with it."""
        key = token + "*" if prefix else token  # tokens never hold "*"
        found = self._positions.get(key)
        if found is not None:
            return found
        joined = self.search_text()
        needle = f" {searchable(token)}"
        size = len(needle)
        spaces_before = self._spaces_before
        found = []
        at = joined.find(needle)
        while at >= 0:
            if prefix or joined[at + size] == " ":  # (the text ends with a space)
                found.append(spaces_before(at))  # a token's position: the spaces before it
            at = joined.find(needle, at + size)
        self._positions[key] = found
        return found

    def _spaces_before(self, at: int) -> int:
        """The number of spaces in search_text()[:at]: counted within its block of the text, on top of
        the counts of the blocks before (made once per field, one pass)."""
        joined = self._joined or ""
        counts = self._space_counts
        if counts is None:
            counts = self._space_counts = list(itertools.accumulate(map(
                joined.count, itertools.repeat(" "), range(0, len(joined), _BLOCK),
                range(_BLOCK, len(joined) + _BLOCK, _BLOCK)), initial=0))
        block = at // _BLOCK
        return counts[block] + joined.count(" ", block * _BLOCK, at)

    def has_prefix(self, stem: str) -> bool:
        found = self._positions.get(stem + "*")
        if found is not None:
            return bool(found)
        return self.search_text().find(f" {searchable(stem)}") >= 0

    def prefixed(self, stem: str) -> list[str]:
        tokens = self.tokens
        return sorted({tokens[p] for p in self.positions(stem, prefix=True)})

    def span(self, position: int) -> tuple[int, int]:
        if self._starts is not None:
            start = self._starts[position]
        elif position in self._careful:
            start = self._careful[position]
        else:
            start = self._word_start(position)
        return start, start + len(self.raw[position])

    def first_spans(self, token: str, limit: int, prefix: bool = False) -> list[tuple[int, int]]:
        """Character spans of the first `limit` occurrences of `token` (with `prefix`, of tokens starting
        with it). When every token is a whole word of the clean text (no re-tokenised words) they are
        found there directly, without positions."""
        if self._careful or self._starts is not None:
            return [self.span(p) for p in self.positions(token, prefix)[:limit]]
        if not self._padded:
            self._padded = f" {self.clean} "
        padded, size = self._padded, len(token)
        needle = f" {token}" if prefix else f" {token} "
        out = []
        at = padded.find(needle)
        while at >= 0:  # in the padded text, a match at i is the word at clean offset i
            end = padded.find(" ", at + size) - 1 if prefix else at + size
            out.append((at, end))
            if len(out) == limit:
                break
            at = padded.find(needle, end + 1)
        return out

    def _word_start(self, position: int) -> int:
        """Start of a token that is a whole word of the clean text: the n-th whole-word occurrence of it
        there, n counting its earlier positions that are whole words too. Occurrences found are kept, so
        the spans of all a token's positions cost one pass over the text."""
        token = self.tokens[position]  # a whole clean word is its own folded and raw token
        positions = self.positions(token)
        n = bisect_left(positions, position)
        if self._careful:
            n -= sum(1 for p in positions[:n] if p in self._careful)
        found = self._found.get(token)
        if found is None:
            found = self._found[token] = []
            if not self._padded:
                self._padded = f" {self.clean} "
        needle = f" {token} "
        # In the padded text, a match at i is the word at clean offset i.
        cursor = found[-1] + len(token) + 1 if found else 0
        while len(found) <= n:
            at = self._padded.find(needle, cursor)
            found.append(at)
            cursor = at + len(token) + 1
        return found[n]


_RECENT: dict[str, _FieldIndex] = {}  # the last few texts indexed -> their field index
_RECENT_KEPT = 16  # an article's title and text, with room for the lead and body of two articles


def _recent_field(text: str) -> _FieldIndex:
    """The field index of `text`, shared with the last index built for an equal text: a field index is a pure
    function of its text (what it computes lazily, it computes the same each time), so sharing changes no
    answer. Looking up a text is one hash (kept by the string) and, for the same string, one identity test."""
    entry = _RECENT.get(text)
    if entry is None:
        if len(_RECENT) >= _RECENT_KEPT:
            with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # (another thread evicted first)
                del _RECENT[next(iter(_RECENT))]  # the oldest
        entry = _RECENT[text] = _FieldIndex(text)
    return entry


class TextIndex:
    """Built ONCE per article; every rule is evaluated against it.

    Per field: folded tokens in order; the vocabulary (a set), the search text (tokens joined by single
    spaces), token -> positions, token -> character span and prefix lookups (substring searches of the
    search text) are computed on demand and kept.
    """

    __slots__ = ("_fields", "_texts", "_vocabulary")

    def __init__(self, fields: dict[str, _FieldIndex], texts: dict[str, str] | None = None):
        self._fields = fields
        # the very strings given (a shared field index holds an equal one): callers may compare them by identity
        self._texts = texts if texts is not None else {name: entry.text for name, entry in fields.items()}
        self._vocabulary: frozenset[str] | None = None

    @classmethod
    def build(cls, fields: Mapping[str, str]) -> TextIndex:
        """Index each named field's text, e.g. {"title": "...", "text": "..."}. A text indexed moments ago
        (the same article's title and text, indexed by the matcher, then for story features and search) is
        not tokenised again: its field index is shared (see _recent_field)."""
        if len(_FOLDED) > _FOLD_CACHE_LIMIT:
            _FOLDED.clear()
        texts = {name: text or "" for name, text in fields.items()}
        return cls({name: _recent_field(text) for name, text in texts.items()}, texts)

    @classmethod
    def build_parts(cls, fields: Mapping[str, str], whole: str, parts: Mapping[str, str]) -> TextIndex:
        """As build(fields | parts), where `parts` are consecutive pieces of `whole` ("".join of them is
        `whole`): when `whole` was indexed moments ago (the matcher's text), each part's field index is cut
        from its tokens (see _FieldIndex.piece), not tokenised again."""
        entry = _RECENT.get(whole)
        if entry is None:
            return cls.build({**fields, **parts})
        index = cls.build(fields)
        start = 0
        for name, text in parts.items():
            end = start + len(text)
            index._fields[name] = entry.piece(start, end) or _recent_field(text)
            index._texts[name] = text
            start = end
        return index

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    def text(self, field: str) -> str:
        """The original text of `field` ("" for a field the article does not have)."""
        return self._texts.get(field, "")

    def tokens(self, field: str) -> list[str]:
        """Folded tokens of `field`, in order; a token's list index is its position."""
        entry = self._fields.get(field)
        return entry.tokens if entry else []

    def search_text(self, field: str) -> str:
        """The folded tokens of `field` joined by single spaces, with a space at each end; a token appears
        in it as `searchable(token)`. Substring search for " token " or " stem" finds words in it."""
        entry = self._fields.get(field)
        return entry.search_text() if entry else "  "

    def span(self, field: str, position: int) -> tuple[int, int]:
        """Character offsets (start, end) in `text(field)` of the token at `position`."""
        return self._fields[field].span(position)

    def first_spans(self, field: str, token: str, limit: int, prefix: bool = False) -> list[tuple[int, int]]:
        """Character spans in `text(field)` of the first `limit` occurrences of the folded `token` (with
        `prefix`, of the tokens starting with it)."""
        entry = self._fields.get(field)
        return entry.first_spans(token, limit, prefix) if entry else []

    def positions(self, field: str, token: str, prefix: bool = False) -> list[int]:
        """Sorted positions of the folded `token` in `field` (with `prefix`, of the tokens starting with it)."""
        entry = self._fields.get(field)
        return entry.positions(token, prefix) if entry else []

    def plain(self, field: str) -> bool:
        """Whether the tokens of `field` are exactly the runs of letters and digits of its text (see
        _FieldIndex.plain): then a word of the text is one of its tokens, folded."""
        entry = self._fields.get(field)
        return entry is None or entry.plain

    def has(self, field: str, token: str) -> bool:
        entry = self._fields.get(field)
        return entry is not None and token in entry.vocabulary

    def prefixed(self, field: str, stem: str) -> list[str]:
        """Distinct folded tokens of `field` that start with `stem`, sorted."""
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
        """Whether `field` (default: any field) has a token starting with `stem`."""
        if field is not None:
            entry = self._fields.get(field)
            return entry is not None and entry.has_prefix(stem)
        return any(entry.has_prefix(stem) for entry in self._fields.values())
