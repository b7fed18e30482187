"""Release facts made faster (issue 13) give exactly what they gave before: the module as it was is kept as the
specification (tests/releases_spec.py) and run beside monitor/decide/releases.py on our fixture texts, the
labelled release reports of the rounds fixture as extracted from their pages, the real articles of
../shared/corpora/scrapinghub-aeb (alone and below a release report) and generated texts. Each of the faster
patterns is also checked to match what it matched before, and its lookahead to name every letter its
alternatives can start with."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from re import _constants as sre  # the parser's names, to read which letters a pattern can start with
from re import _parser as sre_parse

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.decide import releases
from tests import releases_spec as spec
from tests.helpers import ROUNDS, fixture_texts, round_page

PUBLISHED = datetime(2026, 9, 12, 15, tzinfo=UTC)


def _same(title: str, text: str, published: datetime | None = PUBLISHED) -> bool:
    """Whether both give the same facts (number, names, date, destination, broker, language) or both none;
    returns whether there were facts."""
    for language in (None, "en"):
        expected = spec.release_facts(title, text, language, published)
        assert releases.release_facts(title, text, language, published) == expected, (title, text[:200])
    return expected is not None


def _round_pages() -> list[tuple[str, str, datetime]]:
    """(title, text, published) of every article of the rounds fixture, extracted from its page."""
    expected = yaml.safe_load((ROUNDS / "expected.yaml").read_text(encoding="utf-8"))
    return [(page.title, page.text, page.item.published) for page in map(round_page, expected["articles"])]


def test_the_same_facts_on_the_fixture_texts():
    texts = fixture_texts()
    assert len(texts) > 300
    assert sum(_same(title, text) for title, text in texts) > 20  # the release reports among them


def test_the_same_facts_on_the_labelled_release_reports():
    pages = _round_pages()
    assert len(pages) == 30
    assert sum(_same(title, text, published) for title, text, published in pages) >= 10
    for title, text, _ in pages:
        _same(title, text, None)  # without a publication date, the date is whatever the text says or none


def _corpus_bodies(shared: Path) -> list[str]:
    truth = json.loads((shared / "corpora" / "scrapinghub-aeb" / "ground-truth.json").read_text(encoding="utf-8"))
    return [entry.get("articleBody") or "" for _, entry in sorted(truth.items())]


def test_the_same_facts_on_real_articles_alone_and_below_a_release_report(shared):
    bodies = _corpus_bodies(shared)
    assert len(bodies) == 181
    reports = [(title, text, published) for title, text, published in _round_pages()
               if releases.release_facts(title, text, None, published) is not None]
    assert len(reports) >= 10
    with_facts = 0
    for i, body in enumerate(bodies):
        _same(body.split("\n")[0][:160], body)
        # a real page's text after a release report's: every scan runs over the whole real text
        title, text, published = reports[i % len(reports)]
        with_facts += _same(title, f"{text}\n{body}", published)
    assert with_facts > 150


_PIECES = ["Belarus", "Lukashenko", "Minsk", "freed", "released", "pardoned", "handed over to", "deported to",
           "were taken to", "Lithuania", "Vilnius", "Poland", "the Ukrainian border", "at Medininkai",
           "political prisoners", "prisoners of war", "including", "such as", "among them", "Ales Bialiatski",
           "Maria Kalesnikava", "Siarhei Tsikhanouski", "and 13 other prisoners", "was among those freed",
           "also freed was the journalist", "Also freed were", "as well released was", "envoy John Coale",
           "brokered by the United States", "mediated by Keith Kellogg", "Christopher Landau, the US envoy,",
           "it is unclear whether", "on Thursday", "yesterday", "on 11 September", "September 10", "14", "fifty-two",
           "сорок", "Лукашенко", "помиловал", "освободили", "политзаключённых", "в том числе", "среди них",
           "Алесь Беляцкий", "передали Литве", "вывезли в Литву", "при посредничестве Джона Коула", "вчера",
           "в четверг", "since", "last year", "earlier", "said", "told reporters", "several of the former prisoners "
           "spoke to reporters", "ſince", "İncluding", "ıncluding", "CALL", "EnVoY", "K", "O'Brien", "Café", "e\u0301"]
_GLUE = [" ", ", ", ". ", "\n", "; ", " — ", "", "! "]


@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GLUE)), max_size=40),
       st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_the_same_facts_on_generated_reports(parts, title_words):
    _same(" ".join(title_words), "".join(piece + glue for piece, glue in parts))


# -- the patterns themselves -------------------------------------------------------------------------------

_FASTER = ["_BACKGROUND", "_HEDGE", "_LIST_TRIGGER", "_FREED_SPOKE", "_MOVE", "_BROKER_AFTER", "_BROKER_COUNTRY"]


def _first_letters(items) -> tuple[set, bool]:
    """The characters (lower-cased) a parsed pattern can start with, and whether it can match empty; an
    element other than a literal letter stands for itself (so that a test comparing sets fails on it)."""
    out: set = set()
    for op, av in items:
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue  # zero width
        if op is sre.LITERAL:
            out.add(chr(av).lower())
            return out, False
        if op is sre.SUBPATTERN:
            found, empty = _first_letters(av[3])
        elif op is sre.BRANCH:
            found, empty = set(), False
            for branch in av[1]:
                letters, branch_empty = _first_letters(branch)
                found |= letters
                empty |= branch_empty
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            found, empty = _first_letters(av[2])
            empty = empty or av[0] == 0
        else:
            out.add((op, str(av)))
            return out, False
        out |= found
        if not empty:
            return out, False
    return out, True


@pytest.mark.parametrize("name", _FASTER)
def test_each_lookahead_names_every_first_letter_of_its_pattern(name):
    pattern = getattr(releases, name)
    lookahead = re.match(r"\(\?=\[([^\]]*)\]\)", pattern.pattern)
    assert lookahead, f"{name} starts with its lookahead"
    letters, empty = _first_letters(sre_parse.parse(pattern.pattern[lookahead.end():], pattern.flags))
    assert not empty
    assert letters == set(lookahead.group(1))  # every first letter there (exact), none that is not (no waste)
    assert pattern.flags & re.IGNORECASE


@pytest.mark.parametrize("name", [*_FASTER, "_NAME_RUN"])
def test_each_faster_pattern_finds_what_it_found(name, shared):
    texts = [text for _, text in fixture_texts()] + _corpus_bodies(shared)
    texts.append(" ".join(texts).swapcase())
    texts.append("ſince İncluding ıncluding K Ǆ ǅ ß ẞ ﬆ ﬅ ᲀ ᲁ ᲂ ᲃ ᲄ ᲅ ᲆ ᲇ ẛ ṡ Ω ω µ")
    new, old = getattr(releases, name), getattr(spec, name)
    for text in texts:
        assert [m.span() for m in new.finditer(text)] == [m.span() for m in old.finditer(text)]
        assert [m.groups() for m in new.finditer(text)] == [m.groups() for m in old.finditer(text)]


def test_the_name_runs_are_found_where_a_capital_follows_no_letter():
    text = "O'Brien met Ales Bialiatski, l'Ouverture and Мария Колесникова in Vilnius.\nAlso Ihar"
    assert [m.group() for m in releases._NAME_RUN.finditer(text)] == \
        ["O'Brien", "Ales Bialiatski", "Мария Колесникова", "Vilnius", "Also Ihar"]
    assert releases._NAME_RUN.pattern != spec._NAME_RUN.pattern
