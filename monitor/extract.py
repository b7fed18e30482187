"""Fetched page bytes -> Article text with trafilatura (boilerplate, navigation and sidebars dropped);
the feed entry's summary stands in when the page is missing or yields too little.

Never fetches: it gets bytes and headers; trafilatura never sees a URL to download.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import charset_normalizer
import trafilatura
from trafilatura.utils import load_html

from monitor.models import Article, FeedItem

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.IGNORECASE)
STUB_RATIO = 0.5  # page text shorter than half the summary is a paywall stub or a teaser


def decode_html(body: bytes, content_type: str = "") -> str:
    """Bytes -> str: charset from the header, then <meta>, then UTF-8, then detection."""
    for candidate in (_charset(_HEADER_CHARSET.search(content_type)),
                      _charset(_META_CHARSET.search(body[:4096]))):
        if candidate:
            try:
                return body.decode(candidate, errors="replace")
            except LookupError:
                pass  # an unknown label: fall through to detection
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(body[:200_000]).best()
        return body.decode(best.encoding if best else "cp1252", errors="replace")


def _charset(match: re.Match | None) -> str | None:
    if not match:
        return None
    value = match.group(1)
    return (value.decode("ascii", "ignore") if isinstance(value, bytes) else value).strip().lower()


def extract_article(item: FeedItem, body: bytes | None, content_type: str = "",
                    fetch_error: str | None = None) -> Article:
    """Build the Article for `item` from its page bytes, or from its summary when that is all we have."""
    if body is None:
        return _from_summary(item, f"page not fetched: {fetch_error}" if fetch_error else "no page")
    tree = load_html(decode_html(body, content_type))
    if tree is None:
        return _from_summary(item, "page is not parseable HTML")
    language = (tree.get("lang") or "").split("-")[0].lower() or None
    doc = trafilatura.bare_extraction(tree, with_metadata=True, include_comments=False)
    text = (doc.text or "").strip() if doc is not None else ""
    if not text:
        return _from_summary(item, "extraction found no article text", language)
    if len(text) < STUB_RATIO * len(item.summary):
        return _from_summary(item, "page text shorter than the feed summary (stub or paywall)", language)
    canonical = doc.url if doc.url and doc.url.startswith(("http://", "https://")) else None
    published = item.published or _date(doc.date)
    item_with_date = item if published is item.published else replace(item, published=published)
    return Article(item=item_with_date, title=item.title or (doc.title or ""), text=text,
                   text_source="page", language=language or doc.language, canonical_url=canonical)


def _from_summary(item: FeedItem, note: str, language: str | None = None) -> Article:
    return Article(item=item, title=item.title, text=item.summary, text_source="summary",
                   language=language, note=note)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None
