"""Which URLs from feeds may become clickable links in a message: an absolute http(s) URL with a host and
nothing a browser would strip or skip. Every renderer (HTML, text, Slack) asks `linkable`; a URL that is
not linkable is shown as plain text, never as a link (not even an inert `#` one). Pure.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# whitespace and control characters: browsers drop them inside a scheme, so `java\tscript:` or a leading
# space would still run as javascript:; a URL holding any is not made a link
_STRIPPED = re.compile(r"[\x00-\x20\x7f\u0080-\u009f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]")


def linkable(url: object) -> bool:
    """True only for `http://host...` or `https://host...` (any case) without whitespace or controls."""
    if not isinstance(url, str) or not url or _STRIPPED.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced IPv6 bracket and the like
        return False
    # `http:host` (no //) is a relative link to some readers: the two slashes are required
    return parts.scheme.lower() in ("http", "https") and url[len(parts.scheme):].startswith("://") and bool(
        parts.hostname)
