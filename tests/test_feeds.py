"""parse_feed on real feedparser: the fixture feeds, JSON Feed, hostile and broken input, and a corpus check."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
import yaml

from monitor.errors import FeedError
from monitor.feeds import html_to_text, parse_feed
from monitor.models import Feed
from tests.conftest import SITE

BASE = "http://127.0.0.1:8000"
EXPECTED = yaml.safe_load((SITE / "expected.yaml").read_text(encoding="utf-8"))["items"]
CONTENT_TYPES = {".xml": "application/rss+xml", ".rdf": "application/rdf+xml", ".atom": "application/atom+xml"}


def feed_for(name: str) -> Feed:
    return Feed(url=f"{BASE}/feeds/{name}", name=name.split(".")[0], interval=900)


def fixture_bytes(name: str) -> bytes:
    return (SITE / "feeds" / name).read_bytes().replace(b"{base}", BASE.encode())


def parse_fixture(name: str, headers: dict[str, str] | None = None):
    suffix = Path(name).suffix
    return parse_feed(feed_for(name), fixture_bytes(name),
                      headers if headers is not None else {"content-type": CONTENT_TYPES[suffix]})


# -- the fixture site -----------------------------------------------------------------------------


@pytest.mark.parametrize("name, version_hint", [
    ("northwire.xml", "RSS 2.0"), ("baltic-ledger.rdf", "RSS 1.0"), ("minsk-monitor.atom", "Atom"),
])
def test_fixture_feed_items_match_expected(name, version_hint):
    items = parse_fixture(name)
    expected = {e["path"]: e for e in EXPECTED if e["feed"] == f"/feeds/{name}"}

    assert len(items) == len(expected) == 4, version_hint
    for item in items:
        path = item.url.removeprefix(BASE)
        want = expected[path]
        assert item.title == want["title"]
        assert item.guid == want["guid"].replace("{base}", BASE)
        assert item.feed_url == f"{BASE}/feeds/{name}"
        assert item.feed_name == name.split(".")[0]
        assert item.summary  # every fixture entry has a summary
        assert "<" not in item.summary


@pytest.mark.parametrize("name, index, published", [
    ("northwire.xml", 0, datetime(2025, 10, 24, 12, 15, tzinfo=UTC)),   # pubDate, +0000
    ("northwire.xml", 3, datetime(2025, 10, 7, 14, 20, tzinfo=UTC)),
    ("baltic-ledger.rdf", 0, datetime(2025, 10, 13, 8, 20, tzinfo=UTC)),  # dc:date only
    ("baltic-ledger.rdf", 3, datetime(2025, 9, 8, 15, 10, tzinfo=UTC)),
    ("minsk-monitor.atom", 0, datetime(2025, 9, 27, 17, 10, tzinfo=UTC)),  # +03:00 converted to UTC
    ("minsk-monitor.atom", 2, datetime(2025, 9, 16, 8, 0, tzinfo=UTC)),
])
def test_fixture_feed_dates_are_utc(name, index, published):
    item = parse_fixture(name)[index]
    assert item.published == published
    assert item.published.tzinfo is not None


def test_rss_summary_comes_from_description():
    item = parse_fixture("northwire.xml")[3]
    assert item.summary.startswith("Thirty-one people jailed in Belarus")


def test_cyrillic_titles_survive():
    titles = [i.title for i in parse_fixture("minsk-monitor.atom")]
    assert "Лукашенко помиловал 18 политзаключённых накануне Дня народного единства" in titles


@pytest.mark.parametrize("headers", [
    {"content-type": "text/html; charset=utf-8"}, {"content-type": "application/rss+xml"}, {},
])
def test_html_page_is_not_a_feed(headers):
    with pytest.raises(FeedError) as info:
        parse_feed(feed_for("not-a-feed.html"), fixture_bytes("not-a-feed.html"), headers)
    assert "not a feed" in str(info.value)
    assert f"{BASE}/feeds/not-a-feed.html" in str(info.value)


def test_truncated_feed_is_a_feed_error():
    with pytest.raises(FeedError) as info:
        parse_fixture("broken.xml")
    assert f"{BASE}/feeds/broken.xml" in str(info.value)


@pytest.mark.parametrize("body", [b"", b"   ", b"plain text, not a feed", b"\x89PNG\r\n\x1a\n\0\0\0"])
def test_junk_is_a_feed_error(body):
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed(feed_for("junk.xml"), body, {"content-type": "application/xml"})


EMPTY_RSS = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Quiet</title>'
             b"<link>https://quiet.example/</link><description>Nothing today</description></channel></rss>")


def test_well_formed_empty_feed_with_xml_content_type_has_no_items():
    assert parse_feed(feed_for("quiet.xml"), EMPTY_RSS, {"content-type": "application/rss+xml"}) == []


@pytest.mark.parametrize("headers", [None, {"content-type": "text/plain"},
                                     {"content-type": "application/octet-stream"}])
def test_well_formed_empty_feed_is_not_an_error_whatever_the_content_type(headers):
    assert parse_feed(feed_for("quiet.xml"), EMPTY_RSS, headers) == []


def test_items_parse_without_any_headers():
    items = parse_feed(feed_for("northwire.xml"), fixture_bytes("northwire.xml"))
    assert len(items) == 4


# -- JSON Feed ----------------------------------------------------------------------------------

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Hrodna Daily",
    "home_page_url": "https://hrodna.example/",
    "items": [
        {"id": "https://hrodna.example/a/1", "url": "https://hrodna.example/a/1",
         "title": "Court <em>upholds</em> sentence", "content_html": "<p>The regional court &amp; the "
         "prosecutor</p>", "date_published": "2025-10-01T10:00:00+03:00"},
        {"id": "2", "external_url": "https://elsewhere.example/story", "title": "Plain",
         "summary": "A short summary", "content_text": "Longer text", "date_modified": "2025-10-02T08:00:00Z"},
        {"id": "3", "content_text": "No title, no url", "date_published": "not a date"},
        "not an item",
    ],
}


@pytest.mark.parametrize("headers", [{"content-type": "application/feed+json"}, {}])
def test_json_feed_items(headers):
    items = parse_feed(feed_for("hrodna.json"), json.dumps(JSON_FEED).encode(), headers)

    assert [i.guid for i in items] == ["https://hrodna.example/a/1", "2", "3"]
    assert [i.url for i in items] == ["https://hrodna.example/a/1", "https://elsewhere.example/story", None]
    assert items[0].title == "Court upholds sentence"
    assert items[0].summary == "The regional court & the prosecutor"
    assert items[0].published == datetime(2025, 10, 1, 7, 0, tzinfo=UTC)
    assert items[1].summary == "A short summary"  # summary wins over content_text
    assert items[1].published == datetime(2025, 10, 2, 8, 0, tzinfo=UTC)
    assert items[2].title == "" and items[2].summary == "No title, no url"
    assert items[2].published is None


@pytest.mark.parametrize("body, message", [
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON"),
    (b'{"title": "no version", "items": []}', "jsonfeed.org"),
    (b'{"version": "https://jsonfeed.org/version/1", "items": "nope"}', "jsonfeed.org"),
])
def test_bad_json_feed_is_a_feed_error(body, message):
    with pytest.raises(FeedError, match="not a feed") as info:
        parse_feed(feed_for("bad.json"), body, {"content-type": "application/json"})
    assert message in str(info.value)


# -- hostile and messy content ----------------------------------------------------------------------

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
<!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
<!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">
<!ENTITY i "&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;">
]>
<rss version="2.0"><channel><title>Laughs</title>
<item><title>Hello &i;</title><link>https://laughs.example/1</link><description>Body &i;</description></item>
</channel></rss>"""


def test_billion_laughs_is_not_expanded():
    started = time.monotonic()
    items = parse_feed(feed_for("laughs.xml"), LAUGHS, {"content-type": "application/rss+xml"})
    assert time.monotonic() - started < 1.0
    assert len(items) == 1
    assert items[0].url == "https://laughs.example/1"
    assert items[0].title.startswith("Hello")
    assert len(items[0].title) < 100 and len(items[0].summary) < 100
    assert "aaaaaaaaaa" not in items[0].title + items[0].summary


ESCAPED_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>Sanctions &lt;b&gt;widened&lt;/b&gt; &amp;amp; extended</title><link>https://x.example/1</link>
<description>&lt;p&gt;First&lt;/p&gt;&lt;p&gt;second &lt;a href="https://x.example/"&gt;link&lt;/a&gt;&lt;/p&gt;
&lt;script&gt;alert(1)&lt;/script&gt;</description></item>
<item><title><![CDATA[Minsk <i>talks</i> &amp; more]]></title><link>https://x.example/2</link>
<description><![CDATA[<div>  spaced
   out &eacute;t&eacute; &#8212; done </div>]]></description></item>
</channel></rss>"""

ATOM_MARKUP = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>
<entry><id>urn:uuid:1</id><title type="html">A &lt;em&gt;big&lt;/em&gt; &amp;amp; day</title>
<link href="https://a.example/1"/><content type="html">&lt;p&gt;Body &lt;b&gt;text&lt;/b&gt;&lt;/p&gt;</content>
<updated>2025-01-02T03:04:05Z</updated></entry>
<entry><id>urn:uuid:2</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">X <b>bold</b></div></title>
<link href="https://a.example/2"/>
<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Para&#160;one</p><p>two</p></div></summary>
</entry></feed>"""


def test_html_in_rss_titles_and_summaries_becomes_plain_text():
    first, second = parse_feed(feed_for("x.xml"), ESCAPED_RSS, {"content-type": "application/rss+xml"})
    assert first.title == "Sanctions widened & extended"
    assert first.summary == "First second link alert(1)"
    assert second.title == "Minsk talks & more"
    assert second.summary == "spaced out été — done"


def test_html_in_atom_titles_and_content_becomes_plain_text():
    first, second = parse_feed(feed_for("x.atom"), ATOM_MARKUP, {"content-type": "application/atom+xml"})
    assert first.title == "A big & day"
    assert first.summary == "Body text"  # content stands in when there is no summary
    assert first.published == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert second.title == "X bold"
    assert second.summary == "Para one two"
    assert second.published is None


@pytest.mark.parametrize("fragment, text", [
    ("<p>a</p><p>b</p>", "a b"),
    ("Tom &amp; Jerry", "Tom & Jerry"),
    ("&lt;not a tag&gt;", "<not a tag>"),
    ("  many\n\n  spaces\t ", "many spaces"),
    ("<br/>line<br>break", "line break"),
    ("", ""),
])
def test_html_to_text(fragment, text):
    assert html_to_text(fragment) == text


def test_long_fields_are_clipped():
    body = (b'<rss version="2.0"><channel><title>T</title><item><title>' + b"t" * 5000
            + b"</title><link>https://x.example/1</link><description>" + b"w " * 200_000
            + b"</description></item></channel></rss>")
    (item,) = parse_feed(feed_for("x.xml"), body, {"content-type": "application/rss+xml"})
    assert len(item.title) == 2000
    assert len(item.summary) <= 100_000


def test_bare_rss_guid_is_kept_as_written():
    body = (b'<rss version="2.0"><channel><title>T</title><item><title>x</title>'
            b"<link>https://x.example/a</link><guid>12345</guid></item></channel></rss>")
    (item,) = parse_feed(feed_for("x.xml"), body, {"content-type": "application/rss+xml"})
    assert item.url == "https://x.example/a"
    assert item.guid == "12345"  # not f"{BASE}/feeds/12345", which dedup would take for a global URL


def test_entry_without_a_link_has_no_url():
    body = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>'
            b"<entry><id>urn:uuid:0b7c</id><title>No link</title><summary>s</summary></entry></feed>")
    (item,) = parse_feed(feed_for("x.atom"), body, {"content-type": "application/atom+xml"})
    assert item.guid == "urn:uuid:0b7c"
    assert item.url is None


# -- the feedparser corpus ----------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["rss", "atom10"])
def test_entry_counts_match_feedparser_on_its_wellformed_corpus(shared, folder):
    root = shared / "corpora" / "feedparser" / "tests" / "wellformed" / folder
    files = sorted(p for p in root.iterdir() if p.is_file() and "http" not in p.name)
    assert len(files) > 100
    mismatches, with_entries = [], 0
    for path in files:
        raw = path.read_bytes()
        expected = len(feedparser.parse(raw).entries)
        with_entries += expected > 0
        try:
            # served over HTTP, these would come with an XML Content-Type
            got = len(parse_feed(Feed("http://127.0.0.1:8097/x", "x", 900), raw,
                                 {"content-type": "application/xml"}))
        except FeedError as exc:
            got = f"FeedError: {exc}"
        if got != expected:
            mismatches.append((path.name, expected, got))
    assert mismatches == []
    assert with_entries > 50  # the comparison covered feeds with entries, not only empty ones
