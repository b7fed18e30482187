"""The one sentence splitter (monitor/text/sentences.py) on how news writes: abbreviations, initials, U.S.,
Russian article numbers and initials; rule snippets cut at the same boundaries."""

from __future__ import annotations

import pytest

from monitor.text.sentences import SENTENCE_BREAK, sentences, split_lead

CASES = [
    ("The U.S. envoy John Coale met Mr. Lukashenko on Jan. 5 in Minsk. Talks went on.",
     ["The U.S. envoy John Coale met Mr. Lukashenko on Jan. 5 in Minsk.", "Talks went on."]),
    ("Then J. R. Smith of the U.K. spoke. Dr. Ivanova agreed.",
     ["Then J. R. Smith of the U.K. spoke.", "Dr. Ivanova agreed."]),
    ("Суд назначил 5 лет по ч. 1 ст. 342 УК, т.е. колонии. Приговор обжалуют.",
     ["Суд назначил 5 лет по ч. 1 ст. 342 УК, т.е. колонии.", "Приговор обжалуют."]),
    ("А. Лукашенко помиловал 18 человек. Их вывезли в Литву.",
     ["А. Лукашенко помиловал 18 человек.", "Их вывезли в Литву."]),
    ("Sanctions worth 3 млн. руб. were frozen in Sept. last year. Why? Nobody said!",
     ["Sanctions worth 3 млн. руб. were frozen in Sept. last year.", "Why?", "Nobody said!"]),
    ("He said: \u201cWe are free.\u201d They crossed at 9 a.m. on Friday.",
     ["He said: \u201cWe are free.", "They crossed at 9 a.m. on Friday."]),
    ("One line\nAnother line", ["One line", "Another line"]),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_sentences_know_abbreviations_initials_and_cyrillic(text, expected):
    assert sentences(text) == expected


@pytest.mark.parametrize("text, expected", CASES)
def test_snippet_breaks_fall_where_sentences_end(text, expected):
    """SENTENCE_BREAK (rule snippets and explanations) ends a sentence exactly where `sentences` does, except after
    a closing quote, where a snippet keeps the quoted sentence whole on purpose."""
    if "\u201d" in text:
        assert not any(text[m.end() - 1] == "." and text[m.end()] == "\u201d" for m in SENTENCE_BREAK.finditer(text))
        return
    ends = [m.end() for m in SENTENCE_BREAK.finditer(text)]
    starts = [text.index(s) for s in expected[1:]]
    assert len(ends) == len(starts)
    assert all(text[end:start].strip(" \n\u201d") == "" for end, start in zip(ends, starts, strict=True))


def test_lead_is_two_real_sentences():
    lead, rest = split_lead("The U.S. envoy arrived. Mr. Coale met officials. Prisoners were freed.")
    assert lead == "The U.S. envoy arrived. Mr. Coale met officials. " and rest == "Prisoners were freed."
