"""The text layer's lexicon: name keys across spellings and scripts, and counts written in text."""

from __future__ import annotations

import pytest

from monitor.text.lexicon import name_key
from monitor.text.numbers import numbers


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
