"""Fetched feed bytes -> FeedItems: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed by hand.

Never touches the network: feedparser gets bytes and the headers we received, never a URL.
"""

from __future__ import annotations

import calendar
import html
import json
import re
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser

from monitor.errors import FeedError
from monitor.models import Feed, FeedItem

MAX_FIELD = 100_000  # characters kept of any one text field
# An internal DTD subset can declare entities that expand without bound in the loose parser.
_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def parse_feed(feed: Feed, body: bytes, headers: dict[str, str] | None = None,
               url: str | None = None) -> list[FeedItem]:
    """Parse fetched bytes into items. Raises FeedError when the bytes are not a usable feed."""
    headers = headers or {}
    if _looks_like_json(body, headers.get("content-type", "")):
        return _parse_json_feed(feed, body)
    cleaned = _ENTITY_DECL.sub(b"", _DOCTYPE_SUBSET.sub(b"<!DOCTYPE x>", body))
    # No content-location: feedparser would turn bare RSS guids into URLs under the feed's folder.
    # Relative links are resolved here, against the URL the bytes came from.
    parsed = feedparser.parse(cleaned, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.entries:
        reason = parsed.get("bozo_exception")
        head = body[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise FeedError(f"feeds: {feed.url}: not a feed (an HTML page was served)")
        if not parsed.get("version"):
            raise FeedError(f"feeds: {feed.url}: not a feed" + (f" ({_short(reason)})" if reason else ""))
        if parsed.get("bozo") and not isinstance(reason, _BENIGN):  # empty is fine; broken and empty is not
            raise FeedError(f"feeds: {feed.url}: malformed feed with no entries ({_short(reason)})")
    return [_item(feed, e, url or feed.url) for e in parsed.entries]


# feedparser's warnings about a server's labels, not about the XML itself
_BENIGN = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


def _link(base: str, link: object) -> str | None:
    """An http(s) link, resolved against the feed URL; feedparser puts an Atom id here when no link."""
    if not link:
        return None
    resolved = urljoin(base, str(link).strip()[:4000])
    return resolved if resolved.lower().startswith(("http://", "https://")) else None


def _item(feed: Feed, entry: dict, base: str) -> FeedItem:
    summary = entry.get("summary") or ""
    if not summary and entry.get("content"):
        summary = entry["content"][0].get("value", "")
    return FeedItem(
        feed_url=feed.url, feed_name=feed.name,
        guid=_clip(entry.get("id")) or None,
        url=_link(base, entry.get("link")),
        title=html_to_text(entry.get("title") or "")[:2000],
        summary=html_to_text(summary)[:MAX_FIELD],
        published=_struct_time(entry.get("published_parsed") or entry.get("updated_parsed")),
    )


def html_to_text(fragment: str) -> str:
    """Tags dropped, entities decoded, whitespace collapsed (feed summaries and titles)."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", fragment[: MAX_FIELD * 4]))).strip()


def _struct_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _clip(value) -> str:
    return str(value).strip()[:4000] if value else ""


def _short(exc: object) -> str:
    return str(exc).splitlines()[0][:200] if exc else ""


def _looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def _parse_json_feed(feed: Feed, body: bytes) -> list[FeedItem]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"feeds: {feed.url}: not a feed (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")) \
            or not isinstance(data.get("items"), list):
        raise FeedError(f"feeds: {feed.url}: not a feed (JSON without a jsonfeed.org version and items)")
    items = []
    for entry in data["items"]:
        if not isinstance(entry, dict):
            continue
        summary = entry.get("summary") or entry.get("content_text") or entry.get("content_html") or ""
        items.append(FeedItem(
            feed_url=feed.url, feed_name=feed.name,
            guid=_clip(entry.get("id")) or None,
            url=_link(feed.url, entry.get("url") or entry.get("external_url")),
            title=html_to_text(str(entry.get("title") or ""))[:2000],
            summary=html_to_text(str(summary))[:MAX_FIELD],
            published=_iso(entry.get("date_published") or entry.get("date_modified")),
        ))
    return items


def _iso(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
