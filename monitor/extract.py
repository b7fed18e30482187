"""Fetched page bytes -> Article text with trafilatura (boilerplate, navigation and sidebars dropped);
the feed entry's summary stands in when the page is missing or yields too little, and the note says why.

Never fetches: it gets bytes and headers; trafilatura never sees a URL to download. Runs in-process;
`extract_pool.py` runs it in worker processes with a time limit and a memory cap.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from monitor.models import Article, FeedItem
from monitor.text.scrub import drop_controls, scrub

if TYPE_CHECKING:
    from lxml.etree import XPath
    from lxml.html import HtmlElement

# trafilatura, htmldate and lxml (~0.2 s of CPU to import) are imported by the first page extracted: the main
# process of `run` and of the service hands its pages to the extraction workers and only needs fallback_article

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.IGNORECASE)
# A BOM is the strongest evidence there is, so it wins over header and <meta> (WHATWG "decode").
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Browsers read these labels as windows-1252 (WHATWG encoding table); servers mean it the same way.
_AS_CP1252 = {"ascii", "latin-1", "iso8859-1"}
# trafilatura's options here (all else its defaults); bench/e2e.py's bare baseline extracts with the same ones
TRAFILATURA_OPTIONS = {"include_comments": False}
STUB_RATIO = 0.5  # page text shorter than half the summary is a paywall stub or a teaser
# Asked of each <head> (_CONTENT_LANGUAGE too): libxml2's HTML parser drops a <head> tag met anywhere but right
# under <html> (the root, or another top-level <html> after a stray </html>), so '//head//link', which walks the
# whole document (0.2 ms a page), is not needed; tests/test_extract_same.py holds both to the same answers
_CANONICAL = ('.//link[@rel="canonical"]/@href', './/meta[@property="og:url"]/@content')
_CONTENT_LANGUAGE = 'meta[translate(@http-equiv, "CONTELANGU", "contelangu")="content-language"]/@content'
# What drop_controls acts on, as UTF-8 bytes: the C0 controls but tab and newline (CR included), DEL, and C1 controls
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0b, 0x20), 0x7f])
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def decode_html(body: bytes, content_type: str = "") -> str:
    """Bytes -> str: BOM, then the header's charset, then <meta>, then UTF-8, then detection."""
    return _decoded(body, content_type)[0]


def page_text(body: bytes, content_type: str = "") -> str:
    """The page as lxml gets it: decode_html, then drop_controls (libxml2 stops reading at a NUL) unless the bytes
    show there is nothing to drop."""
    text, utf8 = _decoded(body, content_type)
    return text if utf8 and _controls_free(body) else drop_controls(text)


def _decoded(body: bytes, content_type: str) -> tuple[str, bool]:
    """decode_html's text, and whether it is `body` (BOM aside) read as UTF-8."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, errors="replace"), encoding == "utf-8"
    header = _codec(_HEADER_CHARSET.search(content_type), from_meta=False)
    meta = None if header else _codec(_META_CHARSET.search(body[:4096]), from_meta=True)
    if header or meta:
        codec = header or meta
        return body.decode(codec, errors="replace"), codec == "utf-8"
    try:
        return body.decode("utf-8"), True
    except UnicodeDecodeError:
        import charset_normalizer  # ~15 ms to import: only for the rare page that declares no charset and is not UTF-8

        best = charset_normalizer.from_bytes(body[:200_000]).best()
        return body.decode(best.encoding if best else "cp1252", errors="replace"), False


def _controls_free(body: bytes) -> bool:
    """True when `body`, read as UTF-8, can hold nothing that drop_controls changes, told from its bytes with C-level
    scans (0.15 ms for a 170 KB page, against 0.5 ms for drop_controls' own test of the decoded text). Exact: in UTF-8
    an ASCII control is its own byte and never part of another character (a broken sequence is cut before it), a C1
    control is the pair \\xc2 \\x80-\\x9f, and a surrogate cannot be decoded at all (it becomes U+FFFD). A BOM is
    none of these bytes."""
    return len(body.translate(None, _CONTROL_BYTES)) == len(body) and _C1_UTF8.search(body) is None


def _codec(match: re.Match | None, from_meta: bool) -> str | None:
    """A Python codec name for a declared charset label, or None when absent or unknown."""
    if not match:
        return None
    value = match.group(1)
    label = (value.decode("ascii", "ignore") if isinstance(value, bytes) else value).strip().lower()
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None  # an unknown label: fall through to the next source
    if from_meta and name.startswith("utf-16"):
        return "utf-8"  # a <meta> we could read as ASCII is not UTF-16 (WHATWG says: use UTF-8)
    return "cp1252" if name in _AS_CP1252 else name


def extract_article(item: FeedItem, body: bytes | None, content_type: str = "",
                    fetch_error: str | None = None) -> Article:
    """Build the Article for `item` from its page bytes, or from its summary when that is all we have.
    Its texts are scrubbed (text/scrub.py): the item's were when the feed was parsed, the page's are here."""
    article = _extract(item, body, content_type, fetch_error)
    if article.text_source == "summary":
        return article
    return replace(article, title=scrub(article.title), text=scrub(article.text),
                   canonical_url=scrub(article.canonical_url) if article.canonical_url else None)


def _extract(item: FeedItem, body: bytes | None, content_type: str, fetch_error: str | None) -> Article:
    if body is None:
        return fallback_article(item, f"page not fetched: {fetch_error}" if fetch_error else "no page")
    import trafilatura
    from htmldate import find_date  # trafilatura's own date library (a dependency of trafilatura)
    from trafilatura.metadata import extract_title
    from trafilatura.utils import load_html

    tree = load_html(page_text(body, content_type))  # parsed once; trafilatura works on a copy
    if tree is None:
        return fallback_article(item, "page is not parseable HTML")
    language = _language(tree)
    # No with_metadata: trafilatura's metadata pass costs ~7 ms a page (a third of the extraction) for
    # fields we mostly have from the feed; the few we need are read below, and only when missing.
    doc = trafilatura.bare_extraction(tree, **TRAFILATURA_OPTIONS)
    text = unicodedata.normalize("NFC", (doc.text or "").strip()) if doc is not None else ""
    if not text:
        return fallback_article(item, "extraction found no article text", language)
    if len(text) < STUB_RATIO * len(item.summary):
        return fallback_article(item, "page text shorter than the feed summary (stub or paywall)", language)
    # htmldate's quick search (meta, JSON-LD, URL, <time>): 0.6 ms against 3 ms for the extensive one, and on
    # scrapinghub-aeb it finds the same date on 179 of 181 pages (the other two: none instead of one).
    published = item.published or _date(find_date(tree, extensive_search=False, original_date=True, url=item.url))
    item_with_date = item if published is item.published else replace(item, published=published)
    return Article(item=item_with_date, title=item.title or (extract_title(tree) or ""), text=text,
                   text_source="page", language=language, canonical_url=_canonical_url(tree, item.url))


def fallback_article(item: FeedItem, note: str, language: str | None = None, failed: bool = False) -> Article:
    """The Article made of the feed's own title and summary, with `note` saying why the page did not serve;
    `failed` when that is a failure of ours (extraction timed out, ran out of memory, crashed)."""
    return Article(item=item, title=item.title, text=item.summary, text_source="summary",
                   language=language, note=note, failed=failed)


def _language(tree: HtmlElement) -> str | None:
    declared = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not declared:
        declared = next((content for head in _heads(tree) for content in _xpath(_CONTENT_LANGUAGE)(head)), "")
    return declared.strip().replace("_", "-").split("-")[0].lower() or None


def _canonical_url(tree: HtmlElement, page_url: str | None) -> str | None:
    """<link rel=canonical>, else og:url; relative ones resolved against the page's URL; http(s) only."""
    heads = _heads(tree)
    for path in _CANONICAL:
        for href in (href for head in heads for href in _xpath(path)(head)):
            url = urljoin(page_url or "", href.strip())
            if url.startswith(("http://", "https://")):
                return url
    return None


def _heads(tree: HtmlElement) -> list[HtmlElement]:
    """The document's <head> elements, in document order, as '//head' finds them (see _CANONICAL)."""
    root = tree.getroottree().getroot()
    return [head for top in (root, *root.itersiblings()) for head in top.iterchildren("head")]


@functools.cache
def _xpath(path: str) -> XPath:
    """`path` compiled once: tree.xpath(path) compiles it on every call (0.1 ms of the 0.15 ms a page's XPaths took)."""
    from lxml.etree import XPath

    return XPath(path)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    except ValueError:
        return None
