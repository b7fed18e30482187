"""Is this item new, changed, or due a revisit? Identity keys (normalised URL, GUID), `item_hash`, and the
split of a cycle's items into new ones and stored articles to look at again, over what the store answered.

Pure, explicit `now`: the database enforces uniqueness on the keys; this module only computes and compares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.models import FeedItem, StoredArticle

_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "_hs")
# Only names that are tracking everywhere: "ref" or "from" select content on some sites.
_TRACKING_NAMES = {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
                   "ref_src", "cmpid", "ncid", "ocid", "sr_share", "at_medium", "at_campaign", "_ga"}


def normalise_url(url: str) -> str:
    """Scheme and host lower-cased, default port, fragment and tracking parameters dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().removeprefix("www.")
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not _is_tracking(k)]
    path = parts.path or "/"
    # http and https copies of one page are one article
    return urlunsplit(("https" if scheme in ("http", "https") else scheme, netloc, path,
                       urlencode(sorted(query)), ""))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(_TRACKING_PREFIXES) or lowered in _TRACKING_NAMES


def guid_key(item: FeedItem) -> str | None:
    """A GUID that names the article across feeds: URL-like GUIDs (and URNs/tag URIs) are global;
    bare ones ("12345") are only unique within their feed, so they are qualified by it."""
    if not item.guid:
        return None
    guid = item.guid.strip()
    if guid.lower().startswith(("http://", "https://")):
        return normalise_url(guid)
    if ":" in guid:  # urn:uuid:..., tag:site,2025:...
        return guid
    return f"{item.feed_url}#{guid}"


def url_key(item: FeedItem) -> str | None:
    return normalise_url(item.url) if item.url else None


def item_keys(item: FeedItem) -> tuple[str | None, str | None]:
    return guid_key(item), url_key(item)


def item_hash(item: FeedItem) -> str:
    """What the feed says of an item; when it changes for a stored article, the article was updated."""
    published = item.published.isoformat() if item.published else ""
    return hashlib.blake2b("\x1f".join((item.title, item.summary, published)).encode(), digest_size=12).hexdigest()


def _to_second(moment: datetime) -> datetime:
    # stored times are kept to the second: compare with the moment as it would be stored
    return moment.replace(microsecond=0)


def sort_items(items: Sequence[FeedItem], known: Collection[str], stored: Mapping[str, StoredArticle],
               now: datetime, max_age: float | None, within: float, every: float,
               ) -> tuple[list[FeedItem], list[tuple[FeedItem, StoredArticle]]]:
    """New items (GUID key and URL key both unknown), each once, not older than `max_age` seconds; and
    stored articles to look at again, because their feed entry changed or their page is due a revisit:
    (item, stored row) pairs. `known`: keys of stored articles and their copies; `stored`: key -> row of
    the stored article it names (see `revisit_due` for `within` and `every`)."""
    cutoff = now - timedelta(seconds=max_age) if max_age else None
    fresh: list[FeedItem] = []
    changed: list[tuple[FeedItem, StoredArticle]] = []
    seen: set[str] = set()
    for item in items:
        present = [k for k in item_keys(item) if k]
        if not present or any(k in seen for k in present):
            continue
        seen.update(present)  # the same item twice in this cycle (two feeds) is handled once
        row = next((stored[k] for k in present if k in stored), None)
        if row is not None:
            if row.item_hash != item_hash(item) or revisit_due(row, now, within, every):
                changed.append((item, row))
            continue
        if any(k in known for k in present):
            continue  # a known copy (another source of a stored article)
        if cutoff and item.published and item.published < cutoff:
            continue
        fresh.append(item)
    return fresh, changed


def revisit_due(row: StoredArticle, now: datetime, within: float, every: float) -> bool:
    """A recent article (first seen less than `within` seconds ago) whose page was not looked at for `every`
    seconds: its publisher may have edited it."""
    return (row.first_seen >= _to_second(now - timedelta(seconds=within))
            and row.page_checked <= _to_second(now - timedelta(seconds=every)))


def text_unchanged(row: StoredArticle, fingerprint: int, text_source: str) -> bool:
    """Whether a stored article looked at again still says the same: the same fingerprint, or no page this
    time (only the summary) for an article that had one."""
    return row.fingerprint == fingerprint or (text_source == "summary" and bool(row.fingerprint))
