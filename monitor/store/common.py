"""What every part of the store shares: how values are stored (timestamps, fingerprints, JSON, feed items),
the column lists of the read queries, and the statement batching."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from operator import itemgetter

from monitor.models import Article, FeedItem, signed64


def _signed(fp: int | None) -> int | None:
    """SQLite integers are signed 64-bit: store a 64-bit fingerprint as its two's complement."""
    return None if fp is None else signed64(fp)


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _summary(article: Article) -> str | None:
    """The feed's summary, unless it is the article's text (full-content feeds, pages that fell back):
    then the text column holds it and storing it twice would double the database."""
    item = article.item
    return None if article.text_source == "summary" and article.text == item.summary else item.summary


def _item_json(item: FeedItem) -> str:
    data = asdict(item)
    data["published"] = item.published.isoformat() if item.published else None
    return json.dumps(data, ensure_ascii=False)


def _item_from_json(text: str) -> FeedItem:
    data = json.loads(text)
    published = data.pop("published")
    return FeedItem(**data, published=datetime.fromisoformat(published) if published else None)


def _chunks(values: Sequence, size: int = 500) -> Iterator[list]:
    """`values` in lists of at most `size`, for `IN (?, ...)` under SQLite's limit on bound parameters."""
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def iso(moment: datetime) -> str:
    """Timestamps are stored as UTC ISO 8601 strings, which sort as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(stored: str) -> datetime:
    return datetime.fromisoformat(stored.replace("Z", "+00:00"))


SOURCES_LISTED = 50  # reports of a story loaded for a message; messages show a few and count the rest
_HIT_COLUMNS = ", ".join(f"a.{c}" for c in ("id", "guid", "url", "canonical_url", "feed_url", "feed_name", "title",
                                            "text_source", "language", "published", "first_seen", "story"))
# a search matching at most this many articles sorts their rows; more walk the first_seen index (Store.search):
# ~5 µs a row against ~0.07 µs an index entry, and the walk stops after about limit x stored / matches entries
SEARCH_FEW = 500
WAL_SIZE_LIMIT = 8 << 20  # bytes of write-ahead log kept after a checkpoint (Store.open)
_ITEM_COLUMNS = ", ".join(f"a.{c}" for c in ("id", "title", "canonical_url", "url", "feed_name", "published",
                                             "first_seen", "story", "text_source", "outlet_url"))
_ITEM_ORDER = itemgetter(12, 6, 1)  # a message's rows: by the article's first_seen and id, then the hit's rule
_ITEM_ARTICLE = itemgetter(6)
