"""Identity keys for articles: normalised URL (tracking parameters and fragment dropped) and GUID.

Pure: the database enforces uniqueness on these keys; this module only computes them.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.models import FeedItem

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
