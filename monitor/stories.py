"""Near-duplicate fingerprints (64-bit SimHash) and their resident index; article features; story grouping.

Pure: data in, decisions out, explicit `now`; the store keeps fingerprints and features, `from_rows` rebuilds.
Near-duplicate: Hamming <= 9 between SimHashes of the cleaned body (word 3-shingles; template lines dropped):
copies and updates measure 0-5 bits on tests/fixtures/stories.yaml and 3-9 bits for edited copies of 5 KB
texts, distinct reports >= 19. SimHashIndex: 5 blocks of 13/12 bits probed within 1 bit (exact to 9 bits),
3.6 MB at 100,000 (a MinHash LSH would hold 0.5-1 GB). Stories: an inverted index of evidence keys (name
keys across spellings and scripts, places, headline and body numbers, stemmed terms) -> stories active
within 72 h; score = IDF-weighted share of the article's evidence found in the story, x0.4 when headline
numbers differ, x0.5 on weak evidence; join at >= 0.28. Fixture: pairwise F1 1.0 (closest wrong pair 0.14);
bench/bench_stories.py: ~1-2 ms of index work per article at 100,000 stored, 37 MB resident.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.rules.text import TextIndex, fold

# -- near-duplicate fingerprints -----------------------------------------------------------------------

NEAR_DUPLICATE_BITS = 9  # calibrated: see the module docstring and tests/test_stories.py
_SHINGLE = 3
_MIN_BODY_TOKENS = 20  # shorter bodies (summaries) are fingerprinted together with the title
_MASK64 = (1 << 64) - 1
_BIT_TABLES = tuple(bytes((v >> b) & 1 for v in range(256)) for b in range(8))


class _TokenHashes(dict):
    """folded token -> stable 60-bit value (blake2b); built once per distinct token."""

    def __missing__(self, token: str) -> int:
        value = self[token] = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little") >> 4
        return value


_TOKEN_HASHES = _TokenHashes()


def simhash(tokens: Sequence[str]) -> int:
    """64-bit SimHash over the distinct word 3-shingles of folded `tokens` (0 for no tokens).

    A shingle's hash is CPython's tuple hash of its three blake2b token hashes: deterministic (ints
    hash to themselves; tuple hashing uses no seed) and computed in C. tests/test_stories.py pins a known
    value, so an interpreter that changed it would be caught (stored fingerprints would then be recomputed).
    """
    if not tokens:
        return 0
    if len(_TOKEN_HASHES) > 500_000:
        _TOKEN_HASHES.clear()
    hashes = list(map(_TOKEN_HASHES.__getitem__, tokens))
    if len(hashes) < _SHINGLE:
        hashes += [0] * (_SHINGLE - len(hashes))
    shingles = set(map(hash, zip(hashes, hashes[1:], hashes[2:], strict=False)))
    raw = array("q", shingles).tobytes()  # little-endian words on every platform CPython runs news on
    half = len(shingles)
    fp = 0
    bit = 0
    for column in (raw[p::8] for p in range(8)):  # byte p of every shingle hash
        for table in _BIT_TABLES:
            if column.translate(table).count(1) * 2 > half:
                fp |= 1 << bit
            bit += 1
    return fp & _MASK64


def _body_tokens(index: TextIndex) -> list[str]:
    body = index.tokens("lead") + index.tokens("body")
    return body if len(body) >= _MIN_BODY_TOKENS else index.tokens("title") + body


_BOILERPLATE = re.compile(
    r"(?i)^\W*(copyright|©|all rights reserved|read (more|also|next)|related|share( this)?\b|follow us|subscribe"
    r"|source link|continue reading|читайте (также|еще|ещё)|подписывайтесь|поделиться)")


def clean_text(text: str) -> str:
    """`text` without template lines: those under four words ("Connect with us", "Trending") and
    sidebars and footers ("Read more: ...", "Copyright ..."); `text` itself when nothing else is left."""
    kept = [line for line in text.splitlines()
            if len(line.split()) >= 4 and not _BOILERPLATE.match(line)]
    return "\n".join(kept) if kept else text


def fingerprint(title: str, text: str) -> int:
    """The article's near-duplicate fingerprint: SimHash of its cleaned body (and title, for a short body).

    The title is left out otherwise because syndicated copies are often re-headlined."""
    return simhash(_body_tokens(_text_index(title, clean_text(text))))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def is_near_duplicate(a: int, b: int, bits: int = NEAR_DUPLICATE_BITS) -> bool:
    return (a ^ b).bit_count() <= bits


def _signed(fp: int) -> int:
    return fp - (1 << 64) if fp >= 1 << 63 else fp


class SimHashIndex:
    """Resident (article_id, fingerprint) pairs answering "which are within `bits` of this one?".

    Pigeonhole over 5 blocks (13, 13, 13, 13 and 12 bits): two fingerprints within 9 bits agree within
    1 bit on at least one block, so each block's table is probed with the block and its one-bit variants
    (70 lookups, ~12 rows per bucket at 100,000). Tables are CSR arrays (bucket starts + row numbers,
    ~0.43 MB per table at 100,000); rows added since the last compaction wait in small dicts.
    """

    WIDTHS = (13, 13, 13, 13, 12)
    RADIUS = 1  # per block, so exact for distances <= len(WIDTHS) * (RADIUS + 1) - 1 = 9
    MAX_BITS = len(WIDTHS) * (RADIUS + 1) - 1

    def __init__(self, compact_every: int = 4096):
        self._ids = array("q")
        self._fps = array("q")  # signed view of the 64 bits
        self._blocks = []  # (shift, mask, probe masks)
        shift = 0
        for width in self.WIDTHS:
            self._blocks.append((shift, (1 << width) - 1, (0, *(1 << b for b in range(width)))))
            shift += width
        self._starts: list[array] = [array("I", [0]) * ((1 << w) + 1) for w in self.WIDTHS]
        self._rows: list[array] = [array("I") for _ in self.WIDTHS]
        self._compacted = 0  # rows [0, _compacted) are in the CSR tables
        self._pending: list[dict[int, list[int]]] = [{} for _ in self.WIDTHS]
        self._compact_every = compact_every

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, int]]) -> SimHashIndex:
        """Build from stored (article_id, fingerprint) rows in one pass."""
        index = cls()
        for article_id, fp in rows:
            index._ids.append(article_id)
            index._fps.append(_signed(fp))
        index._compact()
        return index

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, article_id: int, fp: int) -> None:
        row = len(self._ids)
        self._ids.append(article_id)
        self._fps.append(_signed(fp))
        for (shift, mask, _), pending in zip(self._blocks, self._pending, strict=True):
            pending.setdefault((fp >> shift) & mask, []).append(row)
        if row + 1 - self._compacted >= self._compact_every:
            self._compact()

    def _compact(self) -> None:
        n = len(self._fps)
        for block, (shift, mask, _) in enumerate(self._blocks):
            keys = [(fp >> shift) & mask for fp in self._fps]
            counts = array("I", [0]) * (mask + 2)
            for key in keys:
                counts[key + 1] += 1
            for i in range(1, mask + 2):
                counts[i] += counts[i - 1]
            self._starts[block] = counts
            self._rows[block] = array("I", sorted(range(n), key=keys.__getitem__))
            self._pending[block] = {}
        self._compacted = n

    def query(self, fp: int, bits: int = NEAR_DUPLICATE_BITS) -> list[tuple[int, int]]:
        """(article_id, distance) of stored fingerprints within `bits` (at most 9) of `fp`, nearest first."""
        if bits > self.MAX_BITS:
            raise ValueError(f"SimHashIndex answers distances up to {self.MAX_BITS}")
        seen: set[int] = set()
        for (shift, mask, probes), starts, rows, pending in zip(self._blocks, self._starts, self._rows,
                                                                 self._pending, strict=True):
            key = (fp >> shift) & mask
            for flip in probes:
                probe = key ^ flip
                lo, hi = starts[probe], starts[probe + 1]
                if lo != hi:
                    seen.update(rows[lo:hi])
                if pending:
                    more = pending.get(probe)
                    if more:
                        seen.update(more)
        signed, fps, ids = _signed(fp), self._fps, self._ids
        found = [(ids[row], d) for row in seen if (d := ((fps[row] ^ signed) & _MASK64).bit_count()) <= bits]
        found.sort(key=lambda pair: (pair[1], pair[0]))
        return found


# -- article features ----------------------------------------------------------------------------------

# Places and actors written differently across languages, as folded prefixes -> one canonical key.
_GAZETTEER = {
    "belarus": "belarus", "belorus": "belarus", "byelorus": "belarus", "беларус": "belarus",
    "белорус": "belarus", "minsk": "minsk", "минск": "minsk", "lithuan": "lithuania", "литв": "lithuania",
    "литов": "lithuania", "vilni": "vilnius", "вильн": "vilnius", "вільн": "vilnius", "ukrain": "ukraine",
    "украин": "ukraine", "украі": "ukraine", "kyiv": "kyiv", "kiev": "kyiv", "киев": "kyiv", "russia": "russia",
    "росси": "russia", "moscow": "moscow", "москв": "moscow", "poland": "poland", "polish": "poland",
    "польш": "poland", "польск": "poland", "warsaw": "warsaw", "варшав": "warsaw", "latvia": "latvia",
    "латви": "latvia", "hrodna": "hrodna", "grodno": "hrodna", "гродн": "hrodna", "homel": "homel",
    "gomel": "homel", "гомел": "homel", "brest": "brest", "брест": "brest", "nicaragu": "nicaragua",
    "никарагу": "nicaragua", "guatemal": "guatemala", "гватемал": "guatemala", "venezuel": "venezuela",
    "венесуэл": "venezuela", "washington": "united states", "вашингтон": "united states",
    "america": "united states", "америк": "united states", "сша": "united states", "usa": "united states",
    "nato": "nato", "нато": "nato", "medininka": "medininkai", "мядзінінк": "medininkai",
}
_GAZETTEER_GATE = {prefix[:3] for prefix in _GAZETTEER}
_GAZETTEER_EXACT = {"us": "united states", "u": None}  # "US" as a word; "U.S." splits into u, s

_STOP_WORDS = (
    "a an the and or but if of in on at to for from by with about as into over after before since during "
    "under between among amid against than then so not no nor is are was were be been being has have had "
    "do does did will would can could may might must should shall it its this that these those there here "
    "he she they we you i his her their our your my him them us who whom whose which what when where why "
    "how all any both each few more most other some such only own same too very also just one two said "
    "says say monday tuesday wednesday thursday friday saturday sunday january february march april june "
    "july august september october november december mr mrs ms dr read share update source link continue "
    "trending connect published copyright reserved according while many much however meanwhile still even "
    "и в во не на но что с со как а то все она он они мы вы я его ее её их по из за от до для о об при "
    "это этот эта эти так же ли бы был была были быть уже еще ещё также который которая которые которых "
    "где когда после перед над под между среди через около более менее ей ему им ими тот та те "
)
_STOP = frozenset(fold(w) for w in _STOP_WORDS.split())

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SENTENCE_END = re.compile(r"[.!?…][\"'»”’)]*\s+|\n+")
_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(?![.,:]?\d)")  # and not preceded by [\w.,:], checked in code
_LOWER_WORD = re.compile(r"[^\W\d_]+")
_AFTER_NUMBER = re.compile(r"[\s\-–]*([^\W\d_]+|%)")
_UNIT_PREFIXES = ("year", "month", "week", "day", "hour", "minute", "second", "degree", "percent", "%",
                  "million", "billion", "euro", "dollar", "th", "st", "nd", "rd", "km", "kilomet", "metre",
                  "лет", "год", "месяц", "недел", "дн", "час", "минут", "градус", "процент", "млн", "млрд",
                  "евро", "доллар", "летн", "км", "тыс")

_EN_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
             "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
             "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
            "ninety": 90}
_RU_UNITS = {
    **dict.fromkeys(["один", "одного", "одна", "одну"], 1), **dict.fromkeys(["два", "две", "двух"], 2),
    **dict.fromkeys(["три", "трех", "трем"], 3), **dict.fromkeys(["четыре", "четырех", "четырем"], 4),
    **dict.fromkeys(["пять", "пяти", "пятерых"], 5), **dict.fromkeys(["шесть", "шести", "шестерых"], 6),
    **dict.fromkeys(["семь", "семи"], 7), **dict.fromkeys(["восемь", "восьми"], 8),
    **dict.fromkeys(["девять", "девяти"], 9), **dict.fromkeys(["десять", "десяти"], 10),
    **dict.fromkeys(["одиннадцать", "одиннадцати"], 11), **dict.fromkeys(["двенадцать", "двенадцати"], 12),
    **dict.fromkeys(["тринадцать", "тринадцати"], 13), **dict.fromkeys(["четырнадцать", "четырнадцати"], 14),
    **dict.fromkeys(["пятнадцать", "пятнадцати"], 15), **dict.fromkeys(["шестнадцать", "шестнадцати"], 16),
    **dict.fromkeys(["семнадцать", "семнадцати"], 17), **dict.fromkeys(["восемнадцать", "восемнадцати"], 18),
    **dict.fromkeys(["девятнадцать", "девятнадцати"], 19),
}
_RU_TENS = {**dict.fromkeys(["двадцать", "двадцати"], 20), **dict.fromkeys(["тридцать", "тридцати"], 30),
            **dict.fromkeys(["сорок", "сорока"], 40), **dict.fromkeys(["пятьдесят", "пятидесяти"], 50),
            **dict.fromkeys(["шестьдесят", "шестидесяти"], 60), **dict.fromkeys(["семьдесят", "семидесяти"], 70),
            **dict.fromkeys(["восемьдесят", "восьмидесяти"], 80), **dict.fromkeys(["девяносто"], 90),
            **dict.fromkeys(["сто", "ста"], 100)}
_NUMBER_WORDS = {**_EN_UNITS, **_EN_TENS, **_RU_UNITS, **_RU_TENS}
_WORD_NUMBER = re.compile(r"(?i)\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
                          + r")(?:[\s\-](" + "|".join(sorted({**_EN_UNITS, **_RU_UNITS}, key=len, reverse=True))
                          + r"))?\b")


def numbers(text: str, minimum: int = 1, words: bool = True) -> list[tuple[int, int, int]]:
    """Counts written in `text` as (value, start, end): digits ("1,100") and, with `words`, number words
    ("fifty-two", "шестнадцать"). Years, ordinals and quantities with units ("six years", "12 million")
    are left out."""
    found = []
    for match in _NUMBER.finditer(text):
        if match.start() and (text[match.start() - 1] in ".,:" or text[match.start() - 1].isalnum()
                              or text[match.start() - 1] == "_"):
            continue  # "Zapad-2025" is fine, "31.2", "20:00" and "A320" are not counts
        digits = match.group(1)
        value = int(digits.replace(",", ""))
        if "," not in digits and len(digits) == 4 and 1900 <= value <= 2100:
            continue  # a year
        found.append((value, match.start(), match.end()))
    if words and _NUMBER_WORDS.keys().isdisjoint(_LOWER_WORD.findall(text.lower())):
        words = False  # the word pattern is slow; most texts have no number words
    for match in _WORD_NUMBER.finditer(text) if words else ():
        first, second = fold(match.group(1)).replace("ё", "е"), match.group(2)
        value = _NUMBER_WORDS[first]
        if second and first in {**_EN_TENS, **_RU_TENS} and value < 100:
            value += _NUMBER_WORDS[fold(second)]
        found.append((value, match.start(), match.end()))
    out = []
    for value, start, end in sorted(found, key=lambda f: f[1]):
        after = _AFTER_NUMBER.match(text, end)
        unit = fold(after.group(1)) if after else ""
        if value < minimum or (unit and unit.startswith(_UNIT_PREFIXES)):
            continue
        out.append((value, start, end))
    return out


_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "z", "з": "z", "и": "i", "й": "",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ў": "u", "ф": "f", "х": "k", "ц": "q", "ч": "c", "ш": "s", "щ": "s", "ъ": "", "ы": "y", "ь": "", "э": "e",
    "ю": "u", "я": "a", "і": "i", "ї": "i", "є": "e", "ґ": "g",
})
# Upper-case placeholders keep a digraph's result from being rewritten by a later rule (ch -> C, not k).
_LATIN_DIGRAPHS = (("tch", "C"), ("sch", "S"), ("ts", "Q"), ("tz", "Q"), ("ch", "C"), ("sh", "S"),
                   ("zh", "Z"), ("kh", "K"), ("ph", "F"), ("x", "KS"), ("w", "V"), ("j", "DZ"), ("c", "K"))
_RU_ENDINGS = ("ого", "его", "ому", "ему", "ыми", "ими", "ой", "ей", "ом", "ем", "ым", "им", "ую", "юю", "ая",
               "яя", "ий", "ый", "а", "я", "у", "ю", "е", "ы", "и", "о", "ь")
_VOWELS = re.compile(r"[aeiouyh]+")


@functools.lru_cache(maxsize=65536)
def name_key(word: str) -> str:
    """A spelling- and script-independent key for a name: Bialiatski, Byalyatski, Беляцкого -> "blqk";
    Kolesnikova, Kalesnikava, Колесникову -> "klsnkv". Folded, Russian case endings cut, transliterated,
    vowels dropped. Multi-word names are keyed word by word."""
    keys = []
    for part in _WORD.findall(word):
        w = fold(part).replace("ё", "е")
        if any("\u0400" <= ch <= "\u04ff" for ch in w):
            if len(w) >= 5:
                for ending in _RU_ENDINGS:
                    if w.endswith(ending) and len(w) - len(ending) >= 3:
                        w = w[: -len(ending)]
                        break
            w = w.translate(_TRANSLIT)
        else:
            for digraph, sub in _LATIN_DIGRAPHS:
                w = w.replace(digraph, sub)
            w = w.lower()
        w = w[0] + _VOWELS.sub("", w[1:]) if w[:1] in "aeiou" else _VOWELS.sub("", w)
        keys.append(re.sub(r"(.)\1+", r"\1", w))
    return " ".join(k for k in keys if k)


def place(word: str) -> str | None:
    """Canonical place/actor key of a folded word ("литву" -> "lithuania"), or None."""
    if word in _GAZETTEER_EXACT:
        return _GAZETTEER_EXACT[word]
    if word[:3] not in _GAZETTEER_GATE:
        return None
    for length in range(min(len(word), 9), 2, -1):
        hit = _GAZETTEER.get(word[:length])
        if hit:
            return hit
    return None


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


def split_lead(text: str, sentences: int = 2) -> tuple[str, str]:
    """(first `sentences` sentences, the rest) of `text`."""
    pos = 0
    for _ in range(sentences):
        match = _SENTENCE_END.search(text, pos)
        if match is None:
            return text, ""
        pos = match.end()
    return text[:pos], text[pos:]


def _text_index(title: str, text: str) -> TextIndex:
    lead, body = split_lead(text)
    return TextIndex.build({"title": title, "lead": lead, "body": body})


def _is_title_case(title: str) -> bool:
    words = [w for w in _WORD.findall(title) if len(w) > 3]
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
    index = _text_index(title, clean_text(text))
    lead_text, body_text = index.text("lead"), index.text("body")
    fp = simhash(_body_tokens(index))

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
            if folded in _STOP or folded in _NUMBER_WORDS or folded in place_of or place(folded):
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
    body_words = not _NUMBER_WORDS.keys().isdisjoint(index.vocabulary("body"))
    all_numbers = lead_numbers | {v for v, _, _ in numbers(body_text, _MIN_NUMBER, body_words)}

    weighted: Counter[str] = Counter()
    for field, weight in (("title", 3), ("lead", 2), ("body", 1)):
        counts = Counter(index.tokens(field))
        for token, count in counts.items():
            weighted[token] += weight * count
    term_counts: Counter[str] = Counter()
    for token, count in weighted.items():
        if (len(token) >= 4 and not token.isdigit() and token not in _STOP and token not in name_words
                and token not in _NUMBER_WORDS and token not in place_of):
            term_counts[token[:6]] += count
    terms = frozenset(k for k, _ in term_counts.most_common(_MAX_TERMS))

    letters = "".join(index.tokens("title")[:20] + index.tokens("lead")[:40])
    cyrillic = sum("\u0400" <= ch <= "\u04ff" for ch in letters)
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

    story_id: int | None
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
                  seen: list[tuple[float, str, set[int]]] | None = None) -> dict[int, float]:
        """Score of every active story sharing evidence with the article; `seen` collects, per key,
        (mass, key, stories holding it) for `_explain`."""
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
            if seen is not None:
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
        floor = self.join_score / 2 * total if seen is not None else 0.0
        for story_id, (mass, packed) in shared.items():
            if mass < floor:
                continue
            story = stories.get(story_id)
            if story is None or story.last < t - w or story.first > t + w:
                continue
            out[story_id] = self._adjust(story, feats, rules, mass, packed, total, total_terms)[0]
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

    def _explain(self, story_id: int, feats: StoryFeatures, rules: frozenset[str],
                 seen: list[tuple[float, str, set[int]]]) -> str:
        """The shared keys and adjustments behind the chosen story's score."""
        matched = sorted(((mass, key) for mass, key, holders in seen if story_id in holders), reverse=True)
        story = self._stories[story_id]
        notes = []
        if feats.lead_numbers and story.heads and not any(k.startswith("h:") for _, k in matched):
            notes.append("headline numbers differ")
        if rules and story.rules and not rules & story.rules:
            notes.append("no common topic")
        top = ", ".join(k for _, k in matched[:5])
        return "; ".join([f"shared {top}" if top else "nothing shared", *notes])

    def candidates(self, feats: StoryFeatures, now: datetime) -> list[int]:
        """Stories active within the window of the article's time that share any evidence key."""
        return sorted(self._evaluate(feats, frozenset(), now))

    def score(self, story_id: int, feats: StoryFeatures, rules: Iterable[str], now: datetime) -> float:
        """The article's score against one story (0 when it is not a candidate)."""
        return self._evaluate(feats, frozenset(rules), now).get(story_id, 0.0)

    def assign(self, feats: StoryFeatures, rules: Iterable[str], now: datetime) -> StoryDecision:
        """Join the best-scoring active story if it scores at least `join_score`, else start a new one."""
        rules = frozenset(rules)
        seen: list[tuple[float, str, set[int]]] = []
        scored = self._evaluate(feats, rules, now, seen)
        hours = int(self.window.total_seconds() // 3600)
        if not scored:
            return StoryDecision(None, 0.0, f"new story: no story within {hours} h shares enough evidence")
        story_id, value = max(scored.items(), key=lambda item: (item[1], -item[0]))
        why = self._explain(story_id, feats, rules, seen)
        if value >= self.join_score:
            return StoryDecision(story_id, round(value, 3), f"joined story {story_id} ({value:.2f}): {why}")
        return StoryDecision(None, round(value, 3), f"new story: best was story {story_id} ({value:.2f}): {why}")

    def add(self, story_id: int, feats: StoryFeatures, rules: Iterable[str], now: datetime) -> None:
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
