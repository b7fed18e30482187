"""Every feed file of the seven feed corpora in ../shared/corpora, served from loopback and taken through the
real fetch -> parse path (tests/corpus_feeds.py does the serving and running): nothing escapes, nothing is
slow or large, the per-corpus totals hold, and on feedparser's own well-formed files our items are the
entries bare feedparser finds, up to the differences we chose (listed below)."""

from __future__ import annotations

import ast
from urllib.parse import urljoin

import feedparser
import pytest

from monitor.feeds import MAX_TITLE, MAX_URL, html_to_text
from tests.corpus_feeds import CORPORA, RunReport, annotation, discover, run, summary

_RUNS: dict[str, RunReport] = {}


@pytest.fixture
def corpus_run(shared) -> RunReport:
    """One run of the whole corpus per test session (about 7 s), shared by the tests below."""
    if "all" not in _RUNS:
        _RUNS["all"] = run(discover(shared / "corpora"))
    return _RUNS["all"]


# Measured with feedparser 6.0.14. "empty" = a complete feed with no entries (most of feedparser's test files
# are channel-only). Rejections by class; see the notes after the table for which files they are.
EXPECTED = {
    "feedparser": {"files": 2107, "with_entries": 1195, "empty": 893, "escaped": 0, "rejected": {
        "malformed feed with no entries: not well-formed": 1,   # entities/query_variable_feed.xml
        "malformed feed with no entries: unclosed token": 10,   # 8 entities/*.xml and 2 more ending in "</rss"
        "not a feed": 7,                                        # wellformed/cdf/*: CDF channels, no items
        "not a feed: no element found": 1,                      # illformed/rss_empty_document.xml
    }},
    "miniflux": {"files": 27, "with_entries": 13, "empty": 3, "escaped": 0, "rejected": {
        "not a feed": 2,                                        # xml/testdata/iso88591*.xml: <note> documents
        "not a feed: an HTML page was served": 9,
    }},
    "rss-parser": {"files": 30, "with_entries": 29, "empty": 0, "escaped": 0, "rejected": {
        "not a feed: an HTML page was served": 1,               # unrecognized.rss, "Document Moved"
    }},
    "feed-rs": {"files": 68, "with_entries": 65, "empty": 0, "escaped": 0, "rejected": {
        "malformed feed with no entries: no element found": 1,  # rss_2.0_invalid_1.xml, truncated Reuters feed
        "not a feed": 2,                                        # xml/xml_sample_*.xml, a book catalogue
    }},
    "node-feedparser": {"files": 29, "with_entries": 27, "empty": 0, "escaped": 0, "rejected": {
        "not a feed: an HTML page was served": 1,               # notafeed.html
        "not a feed: not well-formed": 1,                       # invalid-characters-gzipped.xml, gzip bytes
    }},
    "feedjira": {"files": 43, "with_entries": 37, "empty": 0, "escaped": 0, "rejected": {
        # the six *FirstEntry*.xml files: entry fragments, not feeds
        "not a feed: junk after document element": 3,
        "not a feed: mismatched tag": 1,
        "not a feed: not well-formed": 1,
        "not a feed: undefined entity": 1,
    }},
    "lemon24-reader": {"files": 13, "with_entries": 9, "empty": 2, "escaped": 0, "rejected": {
        "not a feed: an HTML page was served": 1,               # sqlite_releases.html
        "not a feed: syntax error": 1,                          # custom, a text file
    }},
}


def test_no_exception_escapes_the_parse_stage(corpus_run):
    escaped = [(r.file.corpus, r.file.path, r.message) for r in corpus_run.results if r.outcome == "escaped"]
    assert escaped == []


def test_every_file_parses_within_two_seconds(corpus_run):
    slow = [(r.file.corpus, r.file.path, round(r.seconds, 2)) for r in corpus_run.results if r.seconds > 2.0]
    assert slow == []


def test_peak_memory_grows_less_than_200_mb(corpus_run):
    assert corpus_run.rss_peak_kb - corpus_run.rss_before_kb < 200 * 1024


@pytest.mark.parametrize("corpus", CORPORA)
def test_totals_per_corpus(corpus_run, corpus):
    results = corpus_run.by_corpus()[corpus]
    assert summary(results) == EXPECTED[corpus]


def test_every_html_page_is_rejected_as_not_a_feed(corpus_run):
    pages = [r for r in corpus_run.results if r.file.path.endswith(".html")]
    assert len(pages) == 11
    assert {r.reason for r in pages} == {"not a feed: an HTML page was served"}


def test_every_json_feed_parses(corpus_run):
    json_feeds = {f"{r.file.corpus}/{r.file.path}": len(r.items) for r in corpus_run.results
                  if r.file.path.endswith(".json")}
    assert json_feeds == {
        "feedparser/tests/json/example.json": 2,
        "feed-rs/feed-rs/fixture/jsonfeed/jsonfeed_elastic_1.1.json": 3,
        "feed-rs/feed-rs/fixture/jsonfeed/jsonfeed_example_1.json": 2,
        "feed-rs/feed-rs/fixture/jsonfeed/jsonfeed_spec_1.json": 1,
        "feedjira/spec/sample_feeds/json_feed.json": 20,
        "feedjira/spec/sample_feeds/json_feed_with_escaped_uris.json": 30,
        "lemon24-reader/tests/data/10.json": 0,
        "lemon24-reader/tests/data/empty.json": 1,
        "lemon24-reader/tests/data/full.json": 2,
        "lemon24-reader/tests/data/invalid.json": 8,  # every field of the wrong type dropped, items kept
        "lemon24-reader/tests/data/unknown.json": 0,
    }


# -- the same entries as bare feedparser on feedparser's well-formed files ----------------------------------
#
# Differences by design, each applied to feedparser's side before comparing:
#   1. links: resolved against the URL the feed was fetched from, and anything not http(s) becomes None;
#   2. titles: plain text (tags dropped, entities decoded, whitespace collapsed) and at most MAX_TITLE chars;
#   3. DOCTYPE internal subsets are stripped, so entities a feed declares itself are not expanded
#      (wellformed/rss/entity_in_doctype.xml: only its guid uses one, which is not compared here);
#   4. no HTML sanitizer: feedparser.parse drops <script> content from titles, we keep its text. The files
#      where that shows are listed in SANITIZER_ONLY and compared with feedparser's sanitize_html=False title.

SANITIZER_ONLY = {
    "tests/wellformed/sanitize/entry_title_crazy.xml",
    "tests/wellformed/sanitize/entry_title_script.xml",
    "tests/wellformed/sanitize/entry_title_script_cdata.xml",
    "tests/wellformed/sanitize/entry_title_script_inline.xml",
}
HTTP_NAMES = {"headers", "etag", "modified", "href", "status"}  # parse-result fields only an HTTP fetch fills


def needs_http_or_chardet(raw: bytes) -> bool:
    fields = annotation(raw)
    if "chardet" in fields["skip_unless"]:
        return True
    try:
        names = {n.id for n in ast.walk(ast.parse(fields["expect"], mode="eval")) if isinstance(n, ast.Name)}
    except SyntaxError:
        return False
    return bool(names & HTTP_NAMES)


def expected_link(base: str, link: str | None) -> str | None:
    if not link or len(link) > MAX_URL:
        return None
    resolved = urljoin(base, link.strip())
    return resolved if resolved.lower().startswith(("http://", "https://")) else None


def expected_title(title: str | None) -> str:
    return html_to_text(title or "")[:MAX_TITLE]


def test_wellformed_feedparser_files_give_the_entries_bare_feedparser_gives(corpus_run):
    compared = [r for r in corpus_run.by_corpus()["feedparser"]
                if r.file.path.startswith("tests/wellformed/") and "http" not in r.file.path
                and not needs_http_or_chardet(r.file.body)]
    assert len(compared) == 1650
    mismatches, sanitizer_only, with_entries = [], set(), 0
    for result in compared:
        raw = result.file.body
        entries = feedparser.parse(raw).entries
        with_entries += bool(entries)
        if result.outcome != "parsed":
            if entries:
                mismatches.append((result.file.path, result.reason))
            continue
        if len(result.items) != len(entries):
            mismatches.append((result.file.path, len(result.items), len(entries)))
            continue
        base = result.items[0].feed_url if result.items else ""
        unsanitized = None
        for item, entry in zip(result.items, entries, strict=True):
            if item.url != expected_link(base, entry.get("link")):
                mismatches.append((result.file.path, item.url, entry.get("link")))
            if item.title != expected_title(entry.get("title")):
                unsanitized = unsanitized or feedparser.parse(raw, sanitize_html=False).entries
                if item.title == expected_title(unsanitized[result.items.index(item)].get("title")):
                    sanitizer_only.add(result.file.path)
                else:
                    mismatches.append((result.file.path, item.title, entry.get("title")))
    assert mismatches == []
    assert sanitizer_only == SANITIZER_ONLY
    assert with_entries > 1000  # the comparison covered feeds with entries, not only empty ones
