"""How much of a feed one cycle takes: at most `items_per_feed` items and `pages_per_feed` page fetches per
feed; the rest wait for the next cycle (held in the store's backlog, nothing dropped), in the order given.

Pure: takes the cycle's new and changed items, returns what to handle now and what to hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from monitor.models import FeedItem, StoredArticle


@dataclass(frozen=True)
class Portion:
    fresh: list[FeedItem] = field(default_factory=list)  # new items to handle in this cycle
    changed: list[tuple[FeedItem, StoredArticle]] = field(default_factory=list)  # stored ones to look at again
    held: list[FeedItem] = field(default_factory=list)  # items, new or changed, that wait for the next cycle


def portion(fresh: Sequence[FeedItem], changed: Sequence[tuple[FeedItem, StoredArticle]], items_per_feed: int,
            pages_per_feed: int, fetch_pages: bool) -> Portion:
    """Per feed, new items first and then stored ones to look at again, each taken while its feed has both
    an item and (when its page is to be fetched) a page fetch left in this cycle; the others are held."""
    items: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    out = Portion()

    def fits(item: FeedItem) -> bool:
        page = fetch_pages and bool(item.url)
        if items[item.feed_url] >= items_per_feed or (page and pages[item.feed_url] >= pages_per_feed):
            return False
        items[item.feed_url] += 1
        pages[item.feed_url] += page
        return True

    for item in fresh:
        (out.fresh if fits(item) else out.held).append(item)
    for item, row in changed:
        if fits(item):
            out.changed.append((item, row))
        else:
            out.held.append(item)
    return out
