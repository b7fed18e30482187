"""OPML 2.0 feed lists in and out: the feeds of an OPML file (title, feed URL, the folders above it) and an
OPML document of the configured feeds, for moving outlet lists between a reader and the monitor.

Parsing refuses external entities and the network, and libxml2 bounds entity expansion (no huge trees):
an OPML file comes from elsewhere. Pure: lxml and stdlib only; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

from lxml import etree

from monitor.errors import ConfigError

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str | None
    folders: tuple[str, ...] = ()


def read_opml(data: bytes, where: str = "OPML") -> list[OpmlFeed]:
    """Every outline with an xmlUrl, in document order, with the titles of the outlines it sits in."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"{where}: not well-formed XML: {exc}") from None
    if root.tag != "opml" or root.find("body") is None:
        raise ConfigError(f"{where}: not an OPML document (no <opml><body>)")
    out: list[OpmlFeed] = []

    def walk(node, folders: tuple[str, ...]) -> None:
        for outline in node.iterfind("outline"):
            title = (outline.get("title") or outline.get("text") or "").strip() or None
            url = (outline.get("xmlUrl") or "").strip()
            if url:
                out.append(OpmlFeed(url=url, title=title, folders=folders))
            walk(outline, folders + ((title,) if title and not url else ()))

    walk(root.find("body"), ())
    return out


def write_opml(feeds: Sequence[tuple[str, str]], title: str = "news-monitor feeds") -> bytes:
    """An OPML 2.0 document of (name, url) pairs, one rss outline each."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(datetime.now(UTC))
    body = etree.SubElement(root, "body")
    for name, url in feeds:
        name = _NOT_XML.sub("", name)
        etree.SubElement(body, "outline", type="rss", text=name, title=name, xmlUrl=_NOT_XML.sub("", url))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
