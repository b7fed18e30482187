"""The vocabulary shared by every stage: feeds, items, articles, rules, hits, messages.

Frozen dataclasses only; this module imports no other monitor module and does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Feed:
    """A feed the user configured."""

    url: str
    name: str
    interval: int  # seconds between polls
    named: bool = True  # False: the name is only the host, and the feed's own title may replace it


@dataclass(frozen=True)
class FeedItem:
    """One entry of a parsed feed, before its page is fetched."""

    feed_url: str
    feed_name: str
    guid: str | None
    url: str | None
    title: str
    summary: str  # plain text
    published: datetime | None
    source_name: str | None = None  # an aggregator's <source>: the outlet that wrote it
    source_url: str | None = None

    @property
    def outlet(self) -> str:
        """Who wrote it: an aggregator's <source> wins over the feed's name."""
        return self.source_name or self.feed_name


@dataclass(frozen=True)
class FeedProblems:
    """What went wrong with one feed's items in its last cycle with items: the cycle went on, and `feeds`,
    `status` and the digest's health say it here instead of only in a log line or an article's note.
    Each `*_error` is the last of its kind; the counts are that cycle's."""

    partial: str | None = None  # why the feed looks cut short (truncated XML, far fewer items than before)
    repaired: int = 0  # items whose text had broken characters (replaced or dropped at the parse)
    repair: str | None = None
    items_failed: int = 0  # items whose handling raised: not stored this cycle
    item_error: str | None = None
    pages_failed: int = 0  # pages that could not be fetched: the feed summary stood in
    page_error: str | None = None
    extracts_failed: int = 0  # pages whose extraction timed out, hit the memory budget or crashed
    extract_error: str | None = None
    held: int = 0  # new items waiting for the next cycle (limits.items_per_feed / pages_per_feed)

    @property
    def any(self) -> bool:
        return bool(self.partial or self.repaired or self.items_failed or self.pages_failed
                    or self.extracts_failed or self.held)


@dataclass(frozen=True)
class Article:
    """An item together with the text we will match: from its page, or its summary as fallback."""

    item: FeedItem
    title: str
    text: str
    text_source: str  # "page" or "summary"
    language: str | None = None
    canonical_url: str | None = None
    note: str | None = None  # why the summary stood in, when it did
    failed: bool = False  # the note reports a failure (timeout, memory, crash), not a page with little text


@dataclass(frozen=True)
class Evidence:
    """One place in an article that made a rule match."""

    field: str  # "title" or "text"
    term: str  # the query term that matched
    start: int  # character offsets into that field's text
    end: int


@dataclass(frozen=True)
class Hit:
    """A rule that matched an article, with why."""

    rule: str
    evidence: tuple[Evidence, ...]
    alert: bool  # whether this hit asks for an immediate alert
    snippet: str = ""
    why: str = ""  # clauses satisfied, terms, field and the sentence with the words bracketed
    words: tuple[str, ...] = ()  # the matched words as they appear in the article


@dataclass(frozen=True)
class MessageItem:
    """One line of a digest or alert: a stored article and the rules it hit."""

    article_id: int
    title: str
    url: str
    feed: str
    published: str | None
    first_seen: str
    rules: tuple[str, ...]
    story: str
    snippet: str
    text_source: str = "page"
    alerted: bool = False
    matched: tuple[str, ...] = ()  # the words that made the rules match
    why: str = ""
    sources: tuple[tuple[str, str], ...] = ()  # every report of its story: (feed, url), copies included
    facts: tuple[dict, ...] = ()  # release facts its story's articles reported
    followup: bool = False  # its story was announced by an earlier message
    reasons: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # per rule: (rule, the sentence, its words)
    outlet_url: str | None = None  # an aggregator's <source url>: the outlet's own site
    announced: str | None = None  # the message that first announced its story (a follow-up replies to it)
    sources_count: int = 0  # reports of its story in all (sources holds the first few)

    @classmethod
    def of(cls, **values: Any) -> MessageItem:
        """The item `MessageItem(**values)` gives, every field named (else TypeError), built without the frozen
        class's __init__: that sets each of the 20 fields through object.__setattr__, ~85 ms for the 14,854
        items of a day's digest at 1,000,000 stored articles; this is ~10 ms. Still frozen, equal and shown
        alike (tests/test_digest_same.py)."""
        if values.keys() != _MESSAGE_ITEM_FIELDS:
            raise TypeError(f"MessageItem.of needs every field: {sorted(values.keys() ^ _MESSAGE_ITEM_FIELDS)}")
        item = object.__new__(cls)
        item.__dict__.update(values)
        return item


_MESSAGE_ITEM_FIELDS = frozenset(MessageItem.__dataclass_fields__)


@dataclass(frozen=True)
class Message:
    """A rendered message, ready for every channel."""

    id: str
    kind: str  # "digest" or "alert"
    created: str  # ISO 8601, UTC
    items: tuple[MessageItem, ...]
    subject: str
    text: str
    html: str
    data: dict[str, Any] = field(default_factory=dict)  # the JSON form


# A story is named by the id of its first article (the story columns hold it as text; the store converts).
StoryId = int


@dataclass(frozen=True)
class StoryMember:
    """An article of a recent story, as the resident story index is rebuilt from it."""

    story: StoryId
    features: dict[str, Any]  # StoryFeatures.to_dict()
    rules: tuple[str, ...]  # the rules it hit
    first_seen: datetime


@dataclass(frozen=True)
class StoredArticle:
    """What the store holds of an article that a feed item names again: enough to tell whether it changed."""

    id: int
    item_hash: str | None  # of the feed entry when last seen (see decide/new.py)
    fingerprint: int | None  # SimHash of its text, unsigned
    first_seen: datetime
    page_checked: datetime  # when its page was last looked at (first_seen if never again)


@dataclass(frozen=True)
class Delivery:
    """A message due on one channel: what the channel sends, how often it was tried, and how it failed."""

    message_id: str
    channel: str
    attempts: int
    kind: str
    subject: str
    text: str
    html: str
    data: dict
    queued: str = ""  # when it was queued (or re-queued by `outbox retry`): the give-up clock starts here
    failure: str | None = None  # the kind of the last failure: "temporary" or "permanent"
    recipients: dict = field(default_factory=dict)  # email: address -> {status, error, failure}
    ref: str | None = None  # what receivers fold copies by (the email Message-ID), fixed at the first try
    last_error: str | None = None
    # given by the courier: a channel that sends a message in parts (Slack posts) reports each part taken to
    # it, which commits it at once, so a retry after any interruption resumes at the first part not taken
    progress: Callable[[dict], None] | None = field(default=None, compare=False, repr=False)


def signed64(value: int) -> int:
    """A 64-bit fingerprint as the signed integer SQLite and array("q") hold (its two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def unsigned64(value: int) -> int:
    """A fingerprint read back as signed 64 bits, as the unsigned value it was computed as."""
    return value & 0xFFFFFFFFFFFFFFFF
