"""Builders for message tests: realistic MessageItems (our own sentences) for a digest of any size, the rules'
descriptions, failing feeds, a suppression log, and a bare stored Message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.digest import Layout
from monitor.models import Message, MessageItem
from monitor.store import iso

NOW = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # 23 Nov 00:30 in Vilnius: the local date differs from UTC
DESCRIPTIONS = {
    "belarus-prisoners": "Belarus political prisoners: arrests, sentences, releases",
    "coale": "John Coale, the US envoy to Belarus",
    "sanctions": "Sanctions on Belarus",
    "zapad": "The Zapad military exercise",
}
LAYOUT = Layout(zone="Europe/Vilnius", descriptions=DESCRIPTIONS)
OUTLETS = [("Northwire", "https://northwire.example"), ("Minsk Monitor", "https://minsk-monitor.example"),
           ("Baltic Ledger", "https://www.baltic-ledger.example"), ("Vilnius Daily", "https://vilnius-daily.example"),
           ("Radio Polesie", "https://polesie.example"), ("Kyiv Courier", "https://kyiv-courier.example")]
TOPIC_LINES = {
    "belarus-prisoners": ("Court in {city} jails activist for {n} years over protest posts",
                          "The court in {city} handed the activist {n} years, the rights group Viasna said on Monday."),
    "coale": ("US envoy John Coale meets officials in Minsk ({n})",
              "John Coale, the US envoy, said on Tuesday that talks in Minsk would continue next month."),
    "sanctions": ("EU weighs new sanctions on Belarus potash exports ({n})",
                  "Diplomats said the EU would discuss new sanctions on Belarusian potash at the next meeting."),
    "zapad": ("Zapad drills: troops move toward the border near {city} ({n})",
              "The Zapad exercise brought armoured columns within 20 km of the border near {city}, officials said."),
}
CITIES = ["Hrodna", "Brest", "Vitsebsk", "Homel", "Mahilyou", "Pinsk", "Lida", "Barysau"]


def item(n: int, rule: str, story: str | None = None, **kw) -> MessageItem:
    """Article n hitting `rule`, with the sentence that matched it and its words."""
    title, sentence = TOPIC_LINES[rule]
    city = CITIES[n % len(CITIES)]
    outlet, site = OUTLETS[n % len(OUTLETS)]
    words = {"belarus-prisoners": ("activist", "Viasna"), "coale": ("John Coale",), "sanctions": ("sanctions",),
             "zapad": ("Zapad",)}[rule]
    seen = NOW - timedelta(hours=n % 20, minutes=n % 60)
    base = dict(article_id=n, title=title.format(city=city, n=n), url=f"{site}/news/{rule}/{n}", feed=outlet,
                published=(seen - timedelta(minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                first_seen=seen.strftime("%Y-%m-%dT%H:%M:%SZ"), rules=(rule,), story=story or str(n),
                snippet=sentence.format(city=city, n=n), matched=words,
                reasons=((rule, sentence.format(city=city, n=n), words),), sources_count=1)
    base.update(kw)
    return MessageItem(**base)


def release(n: int, number: int, destination: str = "Lithuania", reports: int = 4, alerted: bool = True,
            **kw) -> MessageItem:
    """A release story's lead article with `reports` sources and merged facts."""
    outlet, site = OUTLETS[n % len(OUTLETS)]
    title = kw.pop("title", f"Belarus frees {number} political prisoners; they crossed into {destination}")
    sentence = (f"Belarus freed {number} political prisoners on Thursday, and they were taken to {destination}, "
                "the U.S. envoy John Coale said.")
    sources = tuple((OUTLETS[(n + k) % len(OUTLETS)][0], f"{OUTLETS[(n + k) % len(OUTLETS)][1]}/release/{n}-{k}",
                     None) for k in range(reports))
    facts = ({"number": number, "names": ["Ihar Losik", "Maria Kalesnikava"], "date": "2026-11-20",
              "destination": destination, "broker": "John Coale", "language": "en"},)
    return item(n, "belarus-prisoners", title=title, url=sources[0][1], feed=outlet, rules=("belarus-prisoners",
                "coale"), snippet=sentence, matched=("political prisoners", "freed", "John Coale"),
                reasons=(("belarus-prisoners", sentence, ("political prisoners", "freed")),
                         ("coale", sentence, ("John Coale",))),
                sources=sources, sources_count=reports, facts=facts, alerted=alerted, **kw)


def day(articles: int = 40) -> list[MessageItem]:
    """A realistic day: four releases, stories on four topics (some stories with several reports, some articles
    under two topics), two follow-ups."""
    items = [release(1, 52), release(2, 16, "Poland", reports=2), release(3, 31), release(4, 8, "Lithuania", 1)]
    rules = list(TOPIC_LINES)
    n = 10
    while len(items) < articles - 2:
        rule = rules[n % 4]
        story = str(n - 1) if n % 5 == 0 else str(n)  # every fifth article joins the story before it
        extra = ("coale",) if rule == "sanctions" and n % 3 == 0 else ()
        base = item(n, rule, story=story)
        also = (("coale", "John Coale was not part of the talks.", ("John Coale",)),) if extra else ()
        items.append(item(n, rule, story=story, rules=(rule, *extra), reasons=base.reasons + also))
        n += 1
    items.append(item(200, "coale", story="old-1", followup=True, announced="a1b2c3d4e5f6"))
    items.append(release(201, 52, story="old-2", followup=True, announced="0f0e0d0c0b0a"))
    return items


def failing_feeds(long_url: bool = False) -> list[dict]:
    url = "https://feeds.example/" + ("a" * 280 + "/rss.xml" if long_url else "rss.xml")
    return [{"name": "Hrodna Herald", "url": url, "errors": 5, "last_error": "HTTP 503 Service Unavailable",
             "last_ok": "2026-11-20T10:00:00Z"}]


SUPPRESSED = [{"kind": kind, "url": f"https://x.example/{n}", "story": "1", "reason": kind,
               "at": "2026-11-22T10:00:00Z"}
              for n, kind in enumerate(("copy", "copy", "update"))]


def message(mid: str, kind: str, items=()) -> Message:
    """A Message as the store keeps it, made at 15:00 UTC on 7 Oct 2025, with one-line renderings."""
    return Message(id=mid, kind=kind, created=iso(datetime(2025, 10, 7, 15, 0, tzinfo=UTC)), items=tuple(items),
                   subject=f"{kind} {mid}", text="plain", html="<p>html</p>", data={"id": mid, "n": len(items)})


# Slack's own limits (Block Kit reference), written here rather than read from monitor/blocks.py, so a wrong limit
# there fails the tests: blocks per message, characters of a section's text, of a header's plain text, of a context
# element's text, elements per context block
SLACK_BLOCKS, SLACK_SECTION, SLACK_HEADER, SLACK_CONTEXT_TEXT, SLACK_CONTEXT_ELEMENTS = 50, 3000, 150, 3000, 10


def within_slack_limits(post: dict) -> bool:
    """Whether Slack takes this post's blocks (it answers 400 invalid_blocks otherwise)."""
    blocks = post.get("blocks", [])
    return (0 < len(blocks) <= SLACK_BLOCKS
            and all(len(b["text"]["text"]) <= SLACK_SECTION for b in blocks if b["type"] == "section")
            and all(len(b["text"]["text"]) <= SLACK_HEADER and b["text"]["type"] == "plain_text"
                    for b in blocks if b["type"] == "header")
            and all(0 < len(b["elements"]) <= SLACK_CONTEXT_ELEMENTS
                    and all(len(e["text"]) <= SLACK_CONTEXT_TEXT for e in b["elements"])
                    for b in blocks if b["type"] == "context"))
