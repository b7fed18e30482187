"""The Atom feeds in the state directory (state/hits.atom, state/releases.atom), rewritten after each cycle
so a reader, a dashboard or a colleague can subscribe to them; each file is replaced whole (write, then
rename), so a reader never sees half a feed."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from monitor.atom import MAX_ENTRIES, hits_feed, releases_feed
from monitor.atomic import write_atomic
from monitor.records import latest_hit_records, release_records
from monitor.store import Store

HITS_WINDOW = timedelta(days=30)  # the hits feed shows the stories of the last 30 days (at most atom.MAX_ENTRIES)


def write_feeds(store: Store, state_dir: Path, now: datetime) -> list[Path]:
    """Write both feeds; returns their paths."""
    hits, releases = state_dir / "hits.atom", state_dir / "releases.atom"
    write_atomic(hits, hits_feed(latest_hit_records(store, now - HITS_WINDOW, MAX_ENTRIES)))
    write_atomic(releases, releases_feed(release_records(store, limit=MAX_ENTRIES)))
    return [hits, releases]
