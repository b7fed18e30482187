"""Atom feeds (RFC 4287) of hits and of the release ledger, built from their public records (`hits --json`,
`releases --json`): one entry per story, with its outlets, rules and release facts.

ElementTree writes the XML, so everything from feeds is escaped by construction; characters XML 1.0 cannot
hold (control characters a feed may carry) are dropped first. Pure: stdlib only; the files are written by
monitor.publish and printed by `news-monitor export atom`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

ATOM = "http://www.w3.org/2005/Atom"
ID_BASE = "tag:news-monitor,2026:"  # tag URIs (RFC 4151): stable ids that name no host
MAX_ENTRIES = 200
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

ET.register_namespace("", ATOM)


def _text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def _add(parent: ET.Element, tag: str, text: object | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _feed(kind: str, title: str, updated: str, entries: Sequence[dict]) -> bytes:
    feed = ET.Element(f"{{{ATOM}}}feed")
    _add(feed, "id", f"{ID_BASE}{kind}")
    _add(feed, "title", title)
    _add(feed, "updated", updated)
    _add(_add(feed, "author"), "name", "news-monitor")
    _add(feed, "generator", "news-monitor")
    for entry in entries[:MAX_ENTRIES]:
        element = _add(feed, "entry")
        _add(element, "id", f"{ID_BASE}{kind}/story/{entry['story']}")
        _add(element, "title", entry["title"] or "(untitled)")
        _add(element, "updated", entry["updated"])
        _add(element, "published", entry["published"])
        if entry["url"]:
            _add(element, "link", rel="alternate", href=entry["url"])
        for term in entry["categories"]:
            _add(element, "category", term=term)
        _add(element, "summary", "\n".join(entry["lines"]), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _stamp(value: str | None, fallback: str) -> str:
    """An RFC 3339 date-time: the store's UTC stamps are; a bare date (a release's) gets midnight UTC."""
    if not value:
        return fallback
    return f"{value}T00:00:00Z" if len(value) == 10 else value


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hits_feed(records: Sequence[dict], title: str = "news-monitor hits", updated: str | None = None) -> bytes:
    """One entry per story, newest first: its first-reported article's title and link, every outlet that
    carried it, the rules it hit, and how many reports."""
    stories: dict[str, list[dict]] = {}
    for record in sorted(records, key=lambda r: r["first_seen"]):
        stories.setdefault(str(record["story"] or record["id"]), []).append(record)
    entries = []
    for story, reports in stories.items():
        lead = reports[0]
        outlets = list(dict.fromkeys(r["feed"] for r in reports if r["feed"]))
        rules = list(dict.fromkeys(rule for r in reports for rule in r["rules"]))
        lines = [f"Outlets: {', '.join(outlets)}", f"Rules: {', '.join(rules)}"]
        lines += [f"{r['feed']}: {r['title']} <{r['url']}>" for r in reports]
        if lead.get("snippet"):
            lines.append(lead["snippet"])
        entries.append({"story": story, "title": lead["title"], "url": lead["url"], "categories": rules,
                        "published": lead["first_seen"], "updated": reports[-1]["first_seen"], "lines": lines})
    entries.sort(key=lambda e: e["updated"], reverse=True)
    stamp = updated or (entries[0]["updated"] if entries else now_stamp())
    return _feed("hits", title, stamp, entries)


def releases_feed(records: Sequence[dict], updated: str | None = None) -> bytes:
    """One entry per release story (the ledger): date, number, names, destination, broker and sources."""
    entries = []
    for record in records:
        facts = [f"Released: {record['number'] if record['number'] is not None else 'number not stated'}",
                 f"Date: {record['date'] or 'not stated'}"]
        if record["names"]:
            facts.append(f"Names: {', '.join(record['names'])}")
        if record["destination"]:
            facts.append(f"To: {record['destination']}")
        if record["broker"]:
            facts.append(f"Brokered by: {record['broker']}")
        facts.append(f"Reports: {record['sources']}")
        entries.append({"story": record["story"], "title": record["title"], "url": record["url"],
                        "categories": ["release"], "published": record["first_seen"],
                        "updated": _stamp(record["first_seen"], now_stamp()), "lines": facts})
    entries.sort(key=lambda e: e["updated"], reverse=True)
    stamp = updated or (entries[0]["updated"] if entries else now_stamp())
    return _feed("releases", "news-monitor release ledger", stamp, entries)
