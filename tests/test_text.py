"""The text layer's lexicon: name keys across spellings and scripts, and counts written in text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.text.lexicon import name_key
from monitor.text.numbers import numbers
from tests.helpers import ROOT


@pytest.mark.parametrize(("a", "b"), [
    ("Bialiatski", "Беляцкого"), ("Byalyatski", "Алесь Беляцкий"), ("Kolesnikova", "Kalesnikava"),
    ("Kolesnikova", "Колесникову"), ("Statkevich", "Статкевича"), ("John Coale", "Джон Коул"),
    ("Lukashenko", "Лукашенко"), ("Alexander", "Александр"),
])
def test_name_keys_cross_spelling_and_script(a, b):
    assert name_key(a).split()[-1] == name_key(b).split()[-1]


@pytest.mark.parametrize(("text", "expected"), [
    ("Belarus freed 52 prisoners", [52]),
    ("fifty-two people crossed; fourteen were foreigners", [52, 14]),
    ("помиловал восемнадцать человек", [18]),
    ("more than 1,100 remain; the 2020 protests; six years; 12 million euros; 88th minute; 20:00", [1100]),
])
def test_numbers(text, expected):
    assert [value for value, _, _ in numbers(text)] == expected


# -- numbers(): the word scan gives what the original regex alternation gave --------------------------

def _reference_word_numbers(text: str) -> list[tuple[int, int, int]]:
    """The pattern numbers() used before its word scan (kept here as the specification)."""
    import re

    from monitor.text import numbers as module
    from monitor.text.tokens import fold
    units = module._UNIT_WORDS
    pattern = re.compile(r"(?i)\b(" + "|".join(sorted(module.NUMBER_WORDS, key=len, reverse=True))
                         + r")(?:[\s\-](" + "|".join(sorted(units, key=len, reverse=True)) + r"))?\b")
    found = []
    for match in pattern.finditer(text):
        first, second = fold(match.group(1)).replace("ё", "е"), match.group(2)
        value = module.NUMBER_WORDS[first]
        if second and first in module._TENS and value < 100:
            value += module.NUMBER_WORDS[fold(second)]
        found.append((value, match.start(), match.end()))
    return found


_PIECES = ["one", "Two", "twenty", "TWENTY", "fifty", "ninety", "seven", "seventy", "eleven", "сорок", "Двадцать",
           "два", "пять", "пятьдесят", "трёх", "сто", "oneself", "tenfold", "x", "2", "_", "A320", "1,100"]
_GLUE = [" ", "-", "  ", "\n", ", ", "–", "", "_", "3", ". "]


@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GLUE)), max_size=14))
@settings(max_examples=400, deadline=None)
def test_word_numbers_equal_the_regex_they_replaced(parts):
    from monitor.text.numbers import _word_numbers
    text = "".join(piece + glue for piece, glue in parts)
    assert _word_numbers(text) == _reference_word_numbers(text)


def test_word_numbers_equal_the_regex_on_fixture_texts():
    from monitor.text.numbers import _word_numbers
    stories = (ROOT / "tests" / "fixtures" / "stories.yaml").read_text(encoding="utf-8")
    assert _word_numbers(stories) == _reference_word_numbers(stories)
    assert len(_reference_word_numbers(stories)) > 10


@pytest.mark.parametrize(("text", "expected"), [
    ("Belarus frees Ihar Lapatsin and 39 other political prisoners", [40]),
    ("Bialiatski and 122 others were freed", [123]),
    ("помиловали вместе с ещё 15 политзаключёнными", [16]),
    ("Лукашэнка вызваліў сорак палітвязняў", [40]),
    ("Лукашенко помилував двадцять пʼять політвʼязнів", [25]),
    ("On 10 November, 16 people; 14 лютага; 14 лютого", [16]),
    ("Raman Moevich, 63, gets 7 years; a 46-year-old teacher", []),
])
def test_counts_with_others_in_words_and_not_dates_or_ages(text, expected):
    assert [value for value, _, _ in numbers(text)] == expected
