"""The words judges share: a gazetteer of places and actors across languages (`place`), stop words, a
spelling- and script-independent key for names (`name_key`), and the one Cyrillic test.

Pure: stdlib and monitor.text only.
"""

from __future__ import annotations

import functools
import re

from monitor.text.tokens import fold

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
# Belarusian towns, and the countries and capitals that meet the envoy: places, not the people a story is about
_GAZETTEER.update({p: p for p in (
    "vitsebsk", "mahiliou", "babruisk", "baranavich", "barysau", "pinsk", "orsha", "mazyr", "salihorsk",
    "navapolat", "polatsk", "maladzech", "zhlobin", "svetlahor", "rechytsa", "slutsk", "kobryn", "vaukavysk",
    "zhodzina", "slonim", "kalinkavi", "smarhon", "asipovich", "dzyarzhyn", "horki", "lida", "navahrud",
    "germany", "german", "france", "french", "sweden", "swedish", "finland", "finnish", "norway", "denmark",
    "czech", "slovakia", "romania", "moldova", "austria", "netherlan", "dutch", "belgium", "italy", "italian",
    "spain", "spanish", "ireland", "canada", "japan", "armenia", "hungary", "hungarian", "bulgaria", "croatia",
    "slovenia", "portugal", "estonia", "riga", "tallinn", "berlin", "paris", "stockholm", "helsinki", "oslo",
    "copenhage", "prague", "bratislav", "bucharest", "chisinau", "vienna", "brussels", "rome", "madrid")})
_GAZETTEER.update({"витебск": "vitsebsk", "віцебск": "vitsebsk", "могил": "mahiliou", "магіл": "mahiliou",
                   "бобруйск": "babruisk", "бабруйск": "babruisk", "барановіч": "baranavich",
                   "барановичи": "baranavich", "борисов": "barysau", "барысаў": "barysau", "пинск": "pinsk",
                   "пінск": "pinsk", "орш": "orsha", "мозыр": "mazyr", "мазыр": "mazyr", "солигорск": "salihorsk",
                   "салігорск": "salihorsk", "лид": "lida", "лід": "lida"})
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
STOP_WORDS = frozenset(fold(w) for w in _STOP_WORDS.split())

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


CYRILLIC = "\u0400-\u04ff"  # the basic Cyrillic block, the one test of "is this Cyrillic" (a character class)
_CYRILLIC = re.compile(f"[{CYRILLIC}]")


def cyrillic_count(text: str) -> int:
    """How many characters of `text` are Cyrillic letters (the basic block, U+0400-U+04FF)."""
    return len(_CYRILLIC.findall(text))


def is_cyrillic(text: str) -> bool:
    """Whether `text` holds any Cyrillic letter."""
    return _CYRILLIC.search(text) is not None


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
    for part in WORD.findall(word):
        w = fold(part).replace("ё", "е")
        if is_cyrillic(w):
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
