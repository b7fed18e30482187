"""Fetched feed bytes -> FeedItems: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.0/1.1 by hand.

Never touches the network: feedparser gets bytes, never a URL. Before it sees them, the bytes are decoded
to UTF-8 and lose any DTD, so no entity can expand; every text field we keep is capped.
"""

from __future__ import annotations

import calendar
import codecs
import html
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pyexpat import errors as expat_errors
from urllib.parse import urljoin, urlsplit
from xml.sax import SAXParseException

import feedparser
from feedparser.encodings import convert_to_utf8

from monitor.errors import FeedError
from monitor.models import Feed, FeedItem
from monitor.text.scrub import flaws, scrub, suspect

# Caps on what one item may carry (characters). Longer titles and summaries are clipped; a longer link is
# dropped, since a clipped URL points somewhere else.
MAX_TITLE = 2_000
MAX_SUMMARY = 100_000
MAX_GUID = 4_000
MAX_URL = 4_000

_TAG = re.compile(r"<[^<>]*>")  # [^<>], not [^>]: a run of '<' without '>' must not make this quadratic

# -- bytes -> UTF-8 -------------------------------------------------------------------------------

_WIDE_BOMS = ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
              (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le"))


def _wide_encoding(body: bytes) -> tuple[str, int] | None:
    """(codec, BOM length) for UTF-16/32 bodies, told by a BOM or by where the NULs of a leading '<' fall."""
    for bom, codec in _WIDE_BOMS:
        if body.startswith(bom) and (codec.startswith("utf-32") or body[2:4] != b"\0\0"):
            return codec, len(bom)
    head = body[:4]
    if len(head) == 4 and b"\0" in head:
        nul = tuple(b == 0 for b in head)
        for pattern, codec in (((True, True, True, False), "utf-32-be"), ((False, True, True, True), "utf-32-le"),
                               ((True, False, True, False), "utf-16-be"), ((False, True, False, True), "utf-16-le")):
            if nul == pattern:
                return codec, 0
    return None


def _to_utf8(body: bytes, content_type: str) -> bytes:
    """The body as UTF-8 with an `encoding='utf-8'` declaration, decoded the way feedparser decodes it, except:
    a UTF-16/32 BOM or layout wins over any charset, and a Content-Type without a charset leaves the choice to
    the XML declaration (default UTF-8), as RFC 7303 says, not to RFC 3023's us-ascii for text/xml."""
    wide = _wide_encoding(body)
    if wide:
        codec, skip = wide
        body, content_type = body[skip:].decode(codec, "replace").encode("utf-8"), "application/xml; charset=utf-8"
    elif body[:1].isspace():
        body = body.lstrip()  # text before the XML declaration sends expat's strict parser away for nothing
    elif body.startswith(codecs.BOM_UTF8) and body[3:4].isspace():
        body = codecs.BOM_UTF8 + body[3:].lstrip()
    headers = {"content-type": content_type} if _charset(content_type) else {}
    return convert_to_utf8(headers, body, {})


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return ""


# -- DTDs: the entity-expansion defence ------------------------------------------------------------
# feedparser's loose parser expands the "safe" entities of an internal subset without limit (a 40 kB feed
# became 100 M characters), and expat honours whatever the subset declares. Feeds need no DTD, so on the
# UTF-8 text (after decoding, so UTF-16 or UTF-7 cannot hide a declaration): the prolog's DOCTYPE keeps its
# name and public id but loses its internal subset, and every other "<!ENTITY" anywhere becomes the text
# "&lt;!ENTITY", which declares nothing. One regex search when there is nothing to do; linear otherwise.

_DTD_MARK = re.compile(rb"<!(?i:doctype|entity)")
_DOCTYPE = re.compile(rb"<!doctype", re.IGNORECASE)
_ENTITY = re.compile(rb"<!entity", re.IGNORECASE)
_DOCTYPE_STOP = re.compile(rb"[\"'\[>]")
_SUBSET_STOP = re.compile(rb"[\"'\]]|<!--")
_SUBSET_CLOSE = re.compile(rb"\s*>")


def strip_dtd(data: bytes) -> bytes:
    """The document without an internal DTD subset or any entity declaration (UTF-8 or ASCII-compatible bytes)."""
    if not _DTD_MARK.search(data):
        return data
    start = _prolog_end(data, doctype=False)  # where expat would expect the DOCTYPE: not inside a comment
    if _DOCTYPE.match(data, start):
        keyword_end = start + len(b"<!DOCTYPE")
        head_end, end = _doctype_extent(data, keyword_end)
        data = data[:start] + b"<!DOCTYPE" + data[keyword_end:head_end] + b">" + data[end:]
    # The replacement holds no '<', so one pass cannot splice a new "<!ENTITY" out of the pieces.
    return _ENTITY.sub(b"&lt;!ENTITY", data)


def _doctype_extent(data: bytes, pos: int) -> tuple[int, int]:
    """(end of the name and external id, end of the whole declaration) for a DOCTYPE whose keyword ends at pos."""
    while match := _DOCTYPE_STOP.search(data, pos):
        char = match.group()
        if char == b">":
            return match.start(), match.end()
        if char == b"[":
            return match.start(), _subset_end(data, match.end())
        close = data.find(char, match.end())  # a quoted public or system id
        if close < 0:
            break
        pos = close + 1
    return len(data), len(data)


def _subset_end(data: bytes, pos: int) -> int:
    """Where an internal subset starting at pos ends ("]" then ">"), skipping quoted values and comments."""
    while match := _SUBSET_STOP.search(data, pos):
        token = match.group()
        if token == b"]":
            close = _SUBSET_CLOSE.match(data, match.end())
            if close:
                return close.end()
            pos = match.end()
            continue
        closer = b"-->" if token == b"<!--" else token
        end = data.find(closer, match.end())
        if end < 0:
            break
        pos = end + len(closer)
    return len(data)


# -- HTML pages -------------------------------------------------------------------------------------

_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_SIMPLE_DOCTYPE = re.compile(rb"<!doctype[^<>\[]*>", re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<(?:html|head|body)[\s>/]", re.IGNORECASE)
_PROLOG_WINDOW = 64 * 1024  # a prolog longer than this is not looked into (the ENTITY pass still covers it)


def _prolog_end(data: bytes, doctype: bool) -> int:
    """Where the first markup that is not whitespace, a PI or a comment (nor a DOCTYPE, if asked) begins."""
    pos = 3 if data.startswith(codecs.BOM_UTF8) else 0
    while item := (_PROLOG_ITEM.match(data, pos, _PROLOG_WINDOW)
                   or (doctype and _SIMPLE_DOCTYPE.match(data, pos, _PROLOG_WINDOW))):
        if item.end() == pos:
            break
        pos = item.end()
    return pos


def _is_html(data: bytes) -> bool:
    """Whether the root element, after declarations, comments and any DOCTYPE, opens an HTML page.
    The root decides, not the DOCTYPE: feeds served with an XHTML DOCTYPE exist and parse."""
    return bool(_HTML_ROOT.match(data, _prolog_end(data, doctype=True)))


# The document ends with a closing tag (then only whitespace, comments or PIs): it was not cut short.
# One character at a time in the group: "(?:\s+)*" would backtrack exponentially on a whitespace run.
_CLOSED_END = re.compile(rb"</[^<>]+>(?:\s|<!--(?:(?!-->).)*-->|<\?[^<>]*\?>)*\Z", re.DOTALL)


# -- character references ----------------------------------------------------------------------------
# feedparser's loose parser turns "&#xD800;" into a lone surrogate and then fails to encode it, and
# "&#x110000;" into a ValueError: one such reference threw the whole feed away. They become U+FFFD first.
_CHARREF = re.compile(rb"&#(?:[xX]0*([0-9a-fA-F]{4,})|0*([0-9]{5,}));")


def _safe_charrefs(data: bytes) -> tuple[bytes, int]:
    """The data with impossible character references replaced, and how many there were."""
    if b"&#" not in data:
        return data, 0
    replaced = 0

    def safe(match: re.Match) -> bytes:
        nonlocal replaced
        code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            replaced += 1
            return b"&#xFFFD;"
        return match.group()

    return _CHARREF.sub(safe, data), replaced


# -- XML feeds ----------------------------------------------------------------------------------------

# Only the charset we decoded with goes to feedparser: a Content-Location would turn bare RSS guids into URLs
# under the feed's folder; relative links are resolved here, against the URL the bytes came from. No sanitizing:
# every text is made plain here (_plain). bench/e2e.py and bench/bench_article.py parse with these same options.
FEEDPARSER_OPTIONS = {"response_headers": {"content-type": "application/xml; charset=utf-8"},
                      "sanitize_html": False, "resolve_relative_uris": False}


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's items, with what the parse noticed: the document was cut short (truncated XML), and what
    had to be repaired in its text (broken characters), one line each, for `feeds` and `status`."""

    items: list[FeedItem]
    partial: str | None = None
    repairs: list[str] = field(default_factory=list)


def parse_feed(feed: Feed, body: bytes, headers: dict[str, str] | None = None,
               url: str | None = None) -> list[FeedItem]:
    """Parse fetched bytes into items. Raises FeedError when the bytes are not a usable feed."""
    return read_feed(feed, body, headers, url).items


def read_feed(feed: Feed, body: bytes, headers: dict[str, str] | None = None,
              url: str | None = None) -> ParsedFeed:
    """parse_feed, telling also whether the feed was cut short and what its text needed repaired."""
    content_type = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), "")
    repairs: list[str] = []
    if _looks_like_json(body, content_type):
        return ParsedFeed(_parse_json_feed(feed, body, url or feed.url, repairs), None, repairs)
    data, bad_refs = _safe_charrefs(strip_dtd(_to_utf8(body, content_type)))
    if bad_refs:
        repairs.append(f"{bad_refs} character reference{'s' * (bad_refs > 1)} to no character (e.g. &#xD800;) "
                       "read as U+FFFD")
    parsed = feedparser.parse(data, **FEEDPARSER_OPTIONS)
    if not parsed.entries:
        _check_empty(feed, data, parsed)
    base = url or feed.url
    feed = _titled(feed, parsed.feed.get("title") if isinstance(parsed.get("feed"), dict) else None)
    items = [_item(feed, e, base, repairs) for e in parsed.entries]
    return ParsedFeed(items, _cut_short(data, parsed) if items else None, repairs)


def _cut_short(data: bytes, parsed: dict) -> str | None:
    """Why a feed that gave entries looks truncated: the XML broke and the document does not end with a
    closing tag. A feed that broke somewhere but ends properly was read to its end by the loose parser."""
    if not parsed.get("bozo") or _CLOSED_END.search(data.rstrip()[-4096:]):
        return None
    return f"the XML ends early ({_short(parsed.get('bozo_exception'))}); the items before the break were read"


MAX_NAME = 120  # an outlet's name as messages show it


def _titled(feed: Feed, title: object) -> Feed:
    """A feed without a name in the config is called by its own <title> (else its host stays)."""
    name = _plain(title, MAX_NAME) if isinstance(title, str) else ""
    return feed if feed.named or not name else replace(feed, name=name)


def _source(base: str, source: object) -> tuple[str | None, str | None]:
    """An aggregator's <source> (Google News names the outlet there): its name and site, when given."""
    if not isinstance(source, dict):
        return None, None
    title = source.get("title")
    name = _plain(title, MAX_NAME) if isinstance(title, str) else ""
    return name or None, _link(base, source.get("href") or source.get("link"))


def _check_empty(feed: Feed, data: bytes, parsed: dict) -> None:
    """No entries: fine for a complete feed; a FeedError for HTML, non-feeds, and broken or cut-short feeds."""
    reason = parsed.get("bozo_exception")
    if _is_html(data):
        raise FeedError("not a feed (an HTML page was served)", url=feed.url)
    if not parsed.get("version"):
        raise FeedError("not a feed" + (f" ({_short(reason)})" if reason else ""), url=feed.url)
    # expat stops at its first error, so a benign first error says nothing about the end: look at it.
    if parsed.get("bozo") and not (_benign(reason) and _CLOSED_END.search(data.rstrip()[-4096:])):
        raise FeedError(f"malformed feed with no entries ({_short(reason)})", url=feed.url)


# Strict-parser errors after which the loose parser still read the whole document: an entity we did not
# declare (HTML entities, or ones whose declaration we removed), an undeclared namespace prefix, something
# after the root element or before the XML declaration. Truncation and broken tokens are not among them.
_BENIGN_EXPAT = {expat_errors.codes[m] for m in (expat_errors.XML_ERROR_UNDEFINED_ENTITY,
                                                 expat_errors.XML_ERROR_UNBOUND_PREFIX,
                                                 expat_errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT,
                                                 expat_errors.XML_ERROR_MISPLACED_XML_PI)}


def _benign(reason: object) -> bool:
    if isinstance(reason, feedparser.NonXMLContentType | feedparser.CharacterEncodingOverride):
        return True  # warnings about a server's labels, not about the XML itself
    if isinstance(reason, SAXParseException):
        return getattr(reason.getException(), "code", None) in _BENIGN_EXPAT
    return False


def _link(base: str, link: object) -> str | None:
    """An http(s) link, resolved against the feed URL; feedparser puts an Atom id here when no link."""
    if not isinstance(link, str) or not link.strip() or len(link) > MAX_URL:
        return None
    try:
        resolved = urljoin(base, link.strip())
        urlsplit(resolved).port  # noqa: B018  # raises for a port out of range: such a link leads nowhere
    except ValueError:  # e.g. "http://[::1" (an unbalanced IPv6 bracket) or "http://host:99999/"
        return None
    return resolved if resolved.lower().startswith(("http://", "https://")) and len(resolved) <= MAX_URL else None


def _item(feed: Feed, entry: dict, base: str, repairs: list[str]) -> FeedItem:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    # dict.get: FeedParserDict maps a missing updated_parsed to published_parsed, with a DeprecationWarning
    item = _feed_item(feed, entry.get("id"), _link(base, entry.get("link")), entry.get("title") or "", summary,
                      _struct_time(entry.get("published_parsed") or dict.get(entry, "updated_parsed")), repairs)
    source_name, source_url = _source(base, entry.get("source"))
    return replace(item, source_name=source_name, source_url=scrub(source_url) if source_url else None)


def _feed_item(feed: Feed, guid: object, url: str | None, title: str, summary: str,
               published: datetime | None, repairs: list[str]) -> FeedItem:
    """The one place an item is made, from either parser: every text scrubbed (scrub.py) and capped; what
    had to be repaired is added to `repairs`, naming the item."""
    dirty = suspect(summary)  # (a whole article's text in a full-content feed: looked through once)
    broken = [f"{name}: {', '.join(found)}" for name, value in (("title", title), ("summary", summary),
                                                                 ("id", guid), ("link", url))
              if isinstance(value, str) and (dirty or value is not summary) and (found := flaws(value))]
    if broken:
        who = url or _clip(guid) or _plain(title, 80) or "an item"
        repairs.append(f"{scrub(str(who))[:200]}: {'; '.join(broken)} (replaced or dropped)")
    return FeedItem(
        feed_url=feed.url, feed_name=feed.name,
        guid=scrub(_clip(guid)) or None,
        url=scrub(url) if url else None,
        title=_plain(title, MAX_TITLE),
        summary=_plain(summary, MAX_SUMMARY, dirty),
        published=published,
    )


def _plain(fragment: str, cap: int, dirty: bool | None = None) -> str:
    """Scrubbed before the spaces collapse (a dropped NUL leaves no double space) and again after the cap
    (clipping may cut off the closing bidi marks). `dirty`: whether `fragment` holds a character scrub()
    changes, where the caller has looked. Without one, and without an entity (the one way html_to_text
    brings in a character the fragment lacks), neither pass changes anything and both are left out."""
    if not (suspect(fragment) if dirty is None else dirty) and "&" not in fragment:
        return html_to_text(fragment)[:cap]
    return scrub(html_to_text(scrub(fragment))[:cap])


def html_to_text(fragment: str) -> str:
    """Tags dropped, entities decoded, whitespace collapsed (feed summaries and titles). Linear time."""
    # split() and \s are both str.isspace(): the join is what `\s+` -> " " and strip() gave, in a third of the
    # time (the regex wrote every single space again; tests/test_same_decisions.py keeps it as the spec)
    return " ".join(html.unescape(_TAG.sub(" ", fragment[: MAX_SUMMARY * 4])).split())


def _struct_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _clip(value) -> str:
    return str(value).strip()[:MAX_GUID] if value else ""


def _short(exc: object) -> str:
    return str(exc).splitlines()[0][:200] if exc and str(exc) else type(exc).__name__


# -- JSON Feed ----------------------------------------------------------------------------------------

_JSON_LEAD = b"\xef\xbb\xbf\xfe\xff\x00 \t\r\n"  # BOMs, the NULs of UTF-16/32, whitespace


def _looks_like_json(body: bytes, content_type: str) -> bool:
    """The body decides ('{' or '<' first); the Content-Type only for bodies that start with neither."""
    first = body[:256].lstrip(_JSON_LEAD)[:1]
    if first in (b"{", b"<"):
        return first == b"{"
    return "json" in content_type.lower()


def _parse_json_feed(feed: Feed, body: bytes, base: str, repairs: list[str]) -> list[FeedItem]:
    try:
        data = json.loads(body)  # bytes: UTF-8 (with or without BOM), UTF-16 and UTF-32 are detected
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FeedError(f"not a feed (invalid JSON: {_short(exc)})", url=feed.url) from None
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")) \
            or not isinstance(data.get("items"), list):
        raise FeedError("not a feed (JSON without a jsonfeed.org version and items)", url=feed.url)
    items = []
    feed = _titled(feed, data.get("title"))
    for entry in data["items"]:
        if not isinstance(entry, dict):
            continue
        # Fields of the wrong type (a list for a title, a number for a url) are treated as absent;
        # a numeric id is common enough in the wild to keep, as text.
        summary = _text(entry, "summary") or _text(entry, "content_text") or _text(entry, "content_html")
        ident = entry.get("id")
        guid = ident if isinstance(ident, str | int | float) and not isinstance(ident, bool) else None
        items.append(_feed_item(feed, guid, _link(base, _text(entry, "url") or _text(entry, "external_url")),
                                _text(entry, "title"), summary,
                                _iso(_text(entry, "date_published") or _text(entry, "date_modified")), repairs))
    return items


def _text(entry: dict, key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def _iso(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # UTC, as RSS/Atom dates
