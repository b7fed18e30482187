"""The public records of hits and releases — the shape of `hits --json`, `releases --json` and `export` —
built from the store's rows in one place, so the commands that print them cannot drift apart."""

from __future__ import annotations

from datetime import datetime

from monitor.decide.merge import merged_facts
from monitor.store import Store

HIT_FIELDS = ("url", "title", "feed", "published", "rules", "story", "first_seen", "id", "guid", "feed_url",
              "text_source", "snippet", "alerted", "language")
RELEASE_FIELDS = ("story", "date", "number", "names", "destination", "broker", "sources", "first_seen", "title",
                  "url", "alerted")


def hit_record(row: dict) -> dict:
    return {"url": row["canonical_url"] or row["url"], "title": row["title"], "feed": row["feed_name"],
            "published": row["published"], "rules": row["rules"], "story": row["story"],
            "first_seen": row["first_seen"], "id": row["id"], "guid": row["guid"],
            "feed_url": row["feed_url"], "text_source": row["text_source"],
            "snippet": row["snippet"], "alerted": row["alerted"], "language": row["language"]}


def latest_hit_records(store: Store, since: datetime, stories: int) -> list[dict]:
    """The hit records of the window that an Atom feed of `stories` entries is made of (the newest stories):
    monitor.atom.hits_feed gives the same feed from them as from every hit record since `since`."""
    return [hit_record(row) for row in store.hits_of_latest_stories(since, stories)]


def release_record(event: dict) -> dict:
    facts = merged_facts(event["facts"]) or {}
    return {"story": event["story"], "date": facts.get("date"), "number": facts.get("number"),
            "names": facts.get("names", []), "destination": facts.get("destination"),
            "broker": facts.get("broker"), "sources": event["sources"], "first_seen": event["first_seen"],
            "title": event["title"], "url": event["url"], "alerted": event["alerted"]}


def hit_records(store: Store, since: datetime | None = None, rule: str | None = None) -> list[dict]:
    return [hit_record(row) for row in store.hits(since=since, rule=rule)]


def release_records(store: Store, limit: int | None = None, since: datetime | None = None) -> list[dict]:
    """Every release story oldest first; `limit`: only the newest that many; `since`: first seen since then."""
    return [release_record(event) for event in store.release_stories(limit=limit, since=since)]
