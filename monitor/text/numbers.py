"""Counts written in text, as digits ("1,100") or number words in English, Russian, Belarusian and Ukrainian
("fifty-two", "шестнадцать", "сорак", "сорок"); years, dates, ordinals and quantities with units are not counts;
"X and 13 other prisoners" counts 14.

Pure: stdlib and monitor.text only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet

from monitor.text.tokens import fold

# \d{1,3}(?:,\d{3})+|\d+ with its first digit taken out of the alternatives, so that the regex engine skips
# from digit to digit (a pattern starting with a digit class; 40 % faster than a (?=\d) lookahead before)
_NUMBER = re.compile(r"(\d(?:\d{0,2}(?:,\d{3})+|\d*))(?![.,:]?\d)")  # and not preceded by [\w.,:], checked in code
_AFTER_NUMBER = re.compile(r"[\s\-–]*([^\W\d_]+|%)")
_UNIT_PREFIXES = ("year", "month", "week", "day", "hour", "minute", "second", "degree", "percent", "%",
                  "million", "billion", "euro", "dollar", "th", "st", "nd", "rd", "km", "kilomet", "metre",
                  "лет", "год", "месяц", "недел", "дн", "час", "минут", "градус", "процент", "млн", "млрд",
                  "евро", "доллар", "летн", "км", "тыс",
                  # Belarusian and Ukrainian units
                  "гад", "гадоў", "рок", "рокі", "месяц", "тыдн", "тижн", "дзён", "дні", "днів", "гадзін", "годин",
                  # a day of the month is a date, not a count ("10 November", "14 лютага", "14 лютого")
                  "january", "february", "march", "april", "june", "july", "august", "september", "october",
                  "november", "december", "январ", "феврал", "марта", "апрел", "июн", "июл", "август", "сентябр",
                  "октябр", "ноябр", "декабр", "студзен", "лютага", "сакавік", "красавік", "траўн", "чэрвен",
                  "ліпен", "жніўн", "верасн", "кастрычнік", "лістапад", "снежн", "січн", "лютого", "березн",
                  "квітн", "травн", "червн", "липн", "серпн", "вересн", "жовтн", "листопад", "грудн")
_MONTH_AFTER = re.compile(r"\s+(may|мая|мая)\b", re.IGNORECASE)  # "10 May": too short for a prefix
# "X and 13 other prisoners", "вместе с ещё 15", "і яшчэ 39", "та ще 12": the named person is one more
_OTHERS_BEFORE = re.compile(r"(?:\b(?:and|along with|with|together with)\s+(?:\w+\s+)?$)"
                            r"|(?:(?:ещ[её]|яшчэ|ще)\s+$)", re.IGNORECASE)
_OTHERS_AFTER = re.compile(r"\s+(?:others?|more)\b", re.IGNORECASE)
_AGE = re.compile(r"[A-ZА-ЯЁІЎ][^\W\d_]+,\s*$")
_MORE_BEFORE = re.compile(r"(?:ещ[её]|яшчэ|ще)\s+$", re.IGNORECASE)

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
# Belarusian and Ukrainian forms that differ from the Russian ones (nominative and the common oblique case)
_BE_UK_UNITS = {
    **dict.fromkeys(["адзін", "адна", "аднаго", "один", "одна"], 1), **dict.fromkeys(["дзве", "дваіх", "двох"], 2),
    **dict.fromkeys(["тры", "траіх", "трьох"], 3), **dict.fromkeys(["чатыры", "чатырох", "чотири", "чотирьох"], 4),
    **dict.fromkeys(["пяць", "пяці", "пʼять", "пʼяти"], 5), **dict.fromkeys(["шэсць", "шасці", "шість", "шести"], 6),
    **dict.fromkeys(["сем", "сямі", "сім", "семи"], 7), **dict.fromkeys(["восем", "васьмі", "вісім", "восьми"], 8),
    **dict.fromkeys(["дзевяць", "дзевяці", "девʼять"], 9), **dict.fromkeys(["дзесяць", "дзесяці", "десять"], 10),
    **dict.fromkeys(["адзінаццаць", "одинадцять"], 11), **dict.fromkeys(["дванаццаць", "дванадцять"], 12),
    **dict.fromkeys(["трынаццаць", "тринадцять"], 13), **dict.fromkeys(["чатырнаццаць", "чотирнадцять"], 14),
    **dict.fromkeys(["пятнаццаць", "пʼятнадцять"], 15), **dict.fromkeys(["шаснаццаць", "шістнадцять"], 16),
    **dict.fromkeys(["сямнаццаць", "сімнадцять"], 17), **dict.fromkeys(["васямнаццаць", "вісімнадцять"], 18),
    **dict.fromkeys(["дзевятнаццаць", "девʼятнадцять"], 19),
}
_BE_UK_TENS = {**dict.fromkeys(["дваццаць", "двадцять"], 20), **dict.fromkeys(["трыццаць", "тридцять"], 30),
               **dict.fromkeys(["сорак", "сарака"], 40), **dict.fromkeys(["пяцьдзясят", "пʼятдесят"], 50),
               **dict.fromkeys(["шэсцьдзясят", "шістдесят"], 60), **dict.fromkeys(["семдзесят", "сімдесят"], 70),
               **dict.fromkeys(["восемдзесят", "вісімдесят"], 80), **dict.fromkeys(["дзевяноста", "девʼяносто"], 90)}
_UNIT_WORDS = {**_EN_UNITS, **_RU_UNITS, **_BE_UK_UNITS}
_TENS = {**_EN_TENS, **_RU_TENS, **_BE_UK_TENS}
NUMBER_WORDS = {**_UNIT_WORDS, **_TENS}
_WORD = re.compile(r"\w+")
_UNIT_AFTER = re.compile(r"(?i)[\s\-](" + "|".join(map(re.escape, sorted(_UNIT_WORDS, key=len, reverse=True)))
                         + r")\b")
_PATTERNS: dict[frozenset[str], re.Pattern[str]] = {}  # per set of number words present: their pattern


def _pattern(words: frozenset[str]) -> re.Pattern[str]:
    pattern = _PATTERNS.get(words)
    if pattern is None:
        if len(_PATTERNS) > 4096:
            _PATTERNS.clear()
        pattern = _PATTERNS[words] = re.compile(
            r"(?i)\b(" + "|".join(map(re.escape, sorted(words, key=len, reverse=True))) + r")\b")
    return pattern


def _present(text: str, vocabulary: AbstractSet[str] | None) -> AbstractSet[str]:
    """The number words to look for in `text`: those that are whole words of it lower-cased. With the folded
    tokens of a text whose tokens are its plain words (`vocabulary`; TextIndex.plain: ASCII and Cyrillic
    only), the number words among them: each number word is its own folded token, so a number word of such
    a text is one of its tokens, and the case-blind search for one that is a token but no whole word finds
    nothing there (tests/test_same_decisions.py; in other text a combining mark glues "é" and "one" into
    one token, and "ſix" matches "six" case-blind, hence the whole-text scan)."""
    if vocabulary is None:
        return NUMBER_WORDS.keys() & _WORD.findall(text.lower())
    return NUMBER_WORDS.keys() & vocabulary


def _word_numbers(text: str, vocabulary: AbstractSet[str] | None = None,
                  spans: Callable[[str], Iterable[tuple[int, int]]] | None = None) -> list[tuple[int, int, int]]:
    """Number words as (value, start, end): a whole word that is a number word (case-insensitive), joined
    with the unit word right after one space or hyphen ("fifty-two"). The words that may be present are
    found first (see _present), then only they are searched for (a regex alternation of every number word
    took a third of an article's features): with `spans` (see numbers()), tried only where the word is a
    token (a regex scan of the whole text took most of the rest)."""
    present = _present(text, vocabulary)
    if not present:
        return []
    pattern = _pattern(frozenset(present))
    if spans is not None and vocabulary is not None:
        # Where the pattern matches, its word is a token of the plain text (a whole word between non-word
        # characters, which are spaces in the clean text); and matches cannot overlap (whole words): the
        # pattern tried at each place a present word is a token finds what finditer finds
        starts = sorted({start for word in present for start, _ in spans(word)})
        matches: Iterable[re.Match[str]] = filter(None, map(pattern.match, itertools.repeat(text), starts))
    else:
        matches = pattern.finditer(text)
    found = []
    resume = 0
    for match in matches:
        if match.start() < resume:
            continue  # the unit word of the previous match ("two" in "fifty-two")
        word = match.group(1).lower()
        value = NUMBER_WORDS[fold(word).replace("ё", "е")]
        end = match.end()
        unit = _UNIT_AFTER.match(text, end)
        if unit:
            if word in _TENS and value < 100:
                value += NUMBER_WORDS[fold(unit.group(1))]
            end = resume = unit.end()  # "one two" is one match, as the pattern read it
        found.append((value, match.start(), end))
    return found


def numbers(text: str, minimum: int = 1, words: bool = True, vocabulary: AbstractSet[str] | None = None,
            spans: Callable[[str], Iterable[tuple[int, int]]] | None = None) -> list[tuple[int, int, int]]:
    """Counts written in `text` as (value, start, end): digits ("1,100") and, with `words`, number words
    ("fifty-two", "шестнадцать"). Years, ordinals and quantities with units ("six years", "12 million")
    are left out. `vocabulary`: the folded tokens of `text` when the caller has them and they are its plain
    words (TextIndex.plain): a faster word scan; `spans`, with it: a folded token -> the (start, end) of each
    of its occurrences in `text` (TextIndex.first_spans): faster still."""
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
    if words:
        found += _word_numbers(text, vocabulary, spans)
    out = []
    for value, start, end in sorted(found, key=lambda f: f[1]):
        if value < minimum:  # (first: the cheapest of the tests that leave a number out)
            continue
        after = _AFTER_NUMBER.match(text, end)
        unit = fold(after.group(1)) if after else ""
        if (unit and unit.startswith(_UNIT_PREFIXES)) or _MONTH_AFTER.match(text, end):
            continue
        before = text[max(0, start - 30):start]
        if text.startswith(",", end) and _AGE.search(before):
            continue  # "Raman Moevich, 63, gets 7 years": an age

        if (_OTHERS_AFTER.match(text, end) and _OTHERS_BEFORE.search(before)) or _MORE_BEFORE.search(before):
            value += 1  # "Ihar Lapatsin and 39 other prisoners": 40 people
        out.append((value, start, end))
    return out
