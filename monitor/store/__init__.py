"""Every SQL statement of news-monitor, through sqlite-utils. One class, `Store`, over one connection,
written in one file per aggregate:
    connection.py  opening, transactions, migrations     feeds.py       poll state, backlog, feed health
    articles.py    articles, hits, sources, search       indexes.py     the kept copy and story indexes
    reads.py       release stories, hits, counts         retention.py   pruning and reclaiming space
    health.py      heartbeats, slots, schedule           messages.py    messages and the items they show
    deliveries.py  deliveries, attempts, dead letters    common.py      shared conversions (views.py: browse)
The database runs in WAL mode; its schema changes only through `migrations.py`.
"""

from __future__ import annotations

from monitor.store.articles import ArticleRows
from monitor.store.common import SEARCH_FEW, SOURCES_LISTED, WAL_SIZE_LIMIT, iso
from monitor.store.connection import Connection
from monitor.store.deliveries import DeliveryRows
from monitor.store.feeds import FeedRows
from monitor.store.health import Health
from monitor.store.indexes import IndexRows
from monitor.store.messages import MessageRows
from monitor.store.reads import Reads
from monitor.store.retention import Retention
from monitor.store.views import STORIES_LISTED, browse_queries

__all__ = ["Store", "SEARCH_FEW", "SOURCES_LISTED", "WAL_SIZE_LIMIT", "iso", "STORIES_LISTED", "browse_queries"]


class Store(FeedRows, ArticleRows, IndexRows, Reads, Retention, Health, MessageRows, DeliveryRows, Connection):
    """One connection to the monitor database. Open one per thread; close when done."""
