"""The monitor's own work per article made cheaper (issue 13, the own-work target) gives exactly what it gave
before: each replaced piece is kept here as the specification and run beside the new one on the real pages and
texts of ../shared/corpora/scrapinghub-aeb and on generated text."""

from __future__ import annotations

import gzip
import html
import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.feeds import MAX_SUMMARY, _TAG, html_to_text

# -- feed summaries: html_to_text ---------------------------------------------------------------------


def _reference_html_to_text(fragment: str) -> str:
    """html_to_text before the whitespace was collapsed by split and join."""
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", fragment[: MAX_SUMMARY * 4]))).strip()


def test_whitespace_is_the_same_set_for_split_and_the_regex():
    """The whole premise, over every code point: `\\s` in a str pattern is str.isspace(), which split() uses."""
    space = re.compile(r"\s")
    assert [c for c in range(0x110000) if bool(space.match(chr(c))) != chr(c).isspace()] == []


def test_html_to_text_as_before_on_real_pages(shared):
    pages = sorted((shared / "corpora" / "scrapinghub-aeb" / "html").glob("*.html.gz"))
    assert len(pages) > 100
    truth = json.loads((shared / "corpora" / "scrapinghub-aeb" / "ground-truth.json").read_text(encoding="utf-8"))
    for path in pages:
        page = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        assert html_to_text(page) == _reference_html_to_text(page)
    for entry in truth.values():  # the texts that full-content feeds carry, with their line breaks
        body = entry.get("articleBody") or ""
        assert html_to_text(body) == _reference_html_to_text(body)


_SPACES = [" ", "  ", "\n", "\t", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2002",
           "\u2009", "\u200b", "\u2028", "\u3000", "\ufeff"]


@given(st.lists(st.one_of(st.sampled_from(_SPACES), st.sampled_from(["<p>", "</b>", "<", ">", "&amp;", "&#32;",
                                                                       "&nbsp;", "&#x2003;", "&#10;", "&bogus;"]),
                          st.text(max_size=8)), max_size=60))
@settings(max_examples=400, deadline=None)
def test_html_to_text_as_before_on_generated_fragments(parts):
    fragment = "".join(parts)
    assert html_to_text(fragment) == _reference_html_to_text(fragment)
