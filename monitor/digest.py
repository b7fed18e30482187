"""The one message model: a digest or an alert built once as header → releases → topics → follow-ups →
health, each story once with its sources, facts and the sentence that made its rule match; and its outbox
JSON, which every rendering (monitor/render.py, monitor/blocks.py) reads. Pure: the clock and zone are passed.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from monitor.decide.merge import merged_facts
from monitor.links import linkable
from monitor.models import Message, MessageItem
from monitor.render import one_line, plural, render_html, render_text
from monitor.text.scrub import close_bidi

__all__ = ["Layout", "build_data", "build_message", "facts_line", "fact_subject", "folded_line", "ledger_line",
           "local_time", "one_line"]
ALERT_STORIES = 3  # an alert is about one story; a few when one article carries several immediate rules
FOLLOWUPS_SHOWN = 10  # follow-ups are listed briefly; the rest are counted
HEALTH_SHOWN = 10  # failing feeds named; the rest counted (`news-monitor status` lists them all)
SUBJECT_CHARS = 200
SUPPRESSED_LISTED = 200  # the fold log's first lines in the JSON; the folded line counts them all
# a story's new reports listed by URL in the JSON (a story hundreds of outlets cover in a day would otherwise
# carry every URL); past it, `new_reports_total` counts them all (`hits --since 1d --json` lists every one)
NEW_REPORTS_LISTED = 20
HTML_BUDGET = 90_000  # bytes: under Gmail's ~102 KB clipping, with room for the MIME wrapping


@dataclass(frozen=True)
class Layout:
    """What shapes a message beyond its items: the reader's zone, the caps, the rules' descriptions."""

    zone: str = "UTC"
    stories_per_topic: int = 15
    sources_per_story: int = 5
    descriptions: Mapping[str, str] = field(default_factory=dict)  # rule name -> description, in rule order


def heading(layout: Layout, rule: str) -> str:
    """A topic's heading: its rule's description on one line, without the closing full stop of a sentence
    ("Political prisoners in Belarus: ... and pardons."); the rule's name when it has none."""
    return one_line(layout.descriptions.get(rule) or "", 200).rstrip(".").rstrip() or rule


def tag(layout: Layout, rule: str) -> str:
    """A topic named beside a story listed under another: its heading up to the first colon, comma, bracket or
    full stop ("Sanctions on Belarus and relief from them: Belavia, ..." -> "Sanctions on Belarus and relief from
    them"), at most 50 characters."""
    full = heading(layout, rule)
    return one_line(re.split(r"[:,(;]|\.\s", full, maxsplit=1)[0].strip() or full, 50)


def domain(url: str) -> str:
    """The host people recognise: www. dropped; '' for a link that is not http(s)."""
    if not linkable(url):
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def local_time(stamp: str | None, zone: ZoneInfo, now: datetime | None = None) -> str:
    """A stored UTC timestamp as the reader reads it in their zone: 8 Nov 11:05 (the zone is named once); with
    its year when that is not the year of `now` (a new feed's backlog: 21 Jun 2025 12:00)."""
    moment = _parse(stamp)
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    year = f" {local.year}" if now is not None and local.year != now.astimezone(zone).year else ""
    return f"{local.day} {local:%b}{year} {local:%H:%M}"


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def facts_line(facts: dict | None) -> str:
    """A release's facts in one line: how many, who, where to, who brokered it, when."""
    if not facts:
        return ""
    parts = [f"{facts['number']} released" if facts.get("number") else "release reported"]
    if facts.get("names"):
        names = facts["names"]
        parts.append("incl. " + ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else ""))
    if facts.get("destination"):
        parts.append(f"to {facts['destination']}")
    if facts.get("broker"):
        parts.append(f"via {facts['broker']}")
    if facts.get("date"):
        parts.append(f"on {_day(facts['date'])}")
    return " · ".join(parts)


def _day(iso_date: str) -> str:
    try:
        d = date.fromisoformat(iso_date)
    except ValueError:
        return iso_date
    return f"{d.day} {d:%b %Y}"


def fact_subject(facts: dict | None, title: str) -> str:
    """An alert's subject: the fact first, so a phone's 40 characters carry it; then the headline."""
    if not facts:
        return one_line(title, SUBJECT_CHARS)
    number, names = facts.get("number"), facts.get("names") or []
    lead = f"{number} freed" if number else (f"{names[0]} freed" if names else "Release reported")
    tail = [f"to {facts['destination']}"] if facts.get("destination") else []
    if facts.get("broker"):
        tail.append(f"via {facts['broker']}")
    head = lead + (" — " + ", ".join(tail) if tail else "")
    return one_line(f"{head}: {title}", SUBJECT_CHARS)


def ledger_line(release_stories: Iterable[dict], counted: tuple[int, int, str | None] = (0, 0, None)) -> str:
    """The running count of releases: '4 releases reported since Jun 2025, 205 people'. `counted`: stories,
    people and earliest date already summed elsewhere (the store sums the plain ones in SQL), added to these."""
    count, people, first = counted
    for story in release_stories:
        facts = merged_facts(story.get("facts") or ()) or {}
        count += 1
        people += facts.get("number") or len(facts.get("names") or ())
        when = facts.get("date") or (story.get("first_seen") or "")[:10]
        first = min(first, when) if first and when else (first or when)
    if not count:
        return ""
    since = ""
    if first:
        try:
            since = f" since {date.fromisoformat(first):%b %Y}"
        except ValueError:
            since = ""
    return f"{plural(count, 'release')} reported{since}, {plural(people, 'person', 'people')}"


# -- the model -------------------------------------------------------------------------------------


def build_message(kind: str, items: Sequence[MessageItem], now: datetime, health: Sequence[dict] = (),
                  rule_errors: Sequence[str] = (), suppressed: Sequence[dict] = (), *,
                  layout: Layout | None = None, ledger: str = "", undelivered: Sequence[dict] = (),
                  complete: Complete | None = None) -> Message:
    """One digest or alert, built once and rendered to text and HTML; its JSON (`data`) carries the model
    for the outbox and Slack. `health` lists failing feeds; `rule_errors` rule edits not applied;
    `suppressed` the log of what was folded; `ledger` the running count of releases; `undelivered` the
    deliveries that are dead or late, so a broken channel is news on the channels that work. `complete`: the
    items were read without their sentences (Store.pending_items), and this gives them with theirs for the
    stories the message shows (the message's `items` stay as given: their count and stories are what is used)."""
    layout = layout or Layout()
    data = build_data(kind, items, now, health, rule_errors, suppressed, layout=layout, ledger=ledger,
                      undelivered=undelivered, complete=complete)
    html = render_html(data)
    # Gmail clips a message past ~102 KB — at the bottom, where health would be. Many topics can pass the budget
    # even with the per-topic cap: then fewer stories per topic (the rest counted, with the command to list them);
    # everything but the caps is built as before (the warnings too)
    while len(html.encode()) > HTML_BUDGET and layout.stories_per_topic > 1:
        layout = replace(layout, stories_per_topic=layout.stories_per_topic * 2 // 3,
                         sources_per_story=max(2, layout.sources_per_story - 1))
        data = build_data(kind, items, now, health, rule_errors, suppressed, layout=layout, ledger=ledger,
                          message_id=data["id"], undelivered=undelivered, complete=complete)
        html = render_html(data)
    return Message(id=data["id"], kind=kind, created=data["created"], items=tuple(items), subject=data["subject"],
                   text=render_text(data), html=html, data=data)


def build_data(kind: str, items: Sequence[MessageItem], now: datetime, health: Sequence[dict] = (),
               rule_errors: Sequence[str] = (), suppressed: Sequence[dict] = (), *,
               layout: Layout, ledger: str = "", message_id: str | None = None,
               undelivered: Sequence[dict] = (), complete: Complete | None = None) -> dict:
    """The message as JSON: every key the outbox had (kind, id, created, subject, items, topics, stories,
    suppressed, health) plus the model the renderings read (header, sections, zone, ...). `complete`: as
    build_message's."""
    zone = ZoneInfo(layout.zone)
    created = now.astimezone(UTC)
    order = {name: n for n, name in enumerate(layout.descriptions)}
    # every story is sorted and counted; only those the message shows are built into views (a day of ~1,500
    # stories shows a few dozen)
    stories = _stories(items, order)
    fresh = [s for s in stories if not s.followup]
    releases = sorted((s for s in fresh if s.release), key=lambda s: s.first_seen, reverse=True)
    topical = [s for s in fresh if not s.release]
    followups = [s for s in stories if s.followup]
    cap = ALERT_STORIES if kind == "alert" else layout.stories_per_topic
    sections = []
    if releases:
        sections.append(_section("releases", None, "Releases", releases, cap, kind, ledger=ledger))
    topics: dict[str, list[_Story]] = {}
    for s in topical:
        topics.setdefault(s.topic, []).append(s)
    for rule in sorted(topics, key=lambda r: (order.get(r, len(order)), r)):
        group = sorted(topics[rule], key=lambda s: (-s.sources_total, s.first_seen))
        sections.append(_section("topic", rule, heading(layout, rule), group, cap, kind))
    if followups:
        sections.append(_section("followups", None, "Follow-ups to stories already sent", followups,
                                 FOLLOWUPS_SHOWN, kind))
    if kind == "alert":
        sections = _alert_cap(sections)
    shown = {s for sec in sections for s in sec["stories"]}
    if complete is not None:  # placing and counting used no sentence: only the shown stories' items need them
        stories, items = _completed(stories, items, shown, complete)
    by_id = {s.story: _story_view(s, layout, zone, created) for s in stories if s.story in shown}  # stories' order
    failing = [_health_json(h) for h in health]
    header = _header(len(releases), len(topical), len(topics), len(followups), len(failing), len(rule_errors))
    local = created.astimezone(zone)
    local_date = f"{local.day} {local:%b %Y}"
    if kind == "alert":
        lead = next((by_id[s] for sec in sections for s in sec["stories"]), None)
        subject = fact_subject(lead["facts"], lead["title"]) if lead else "news-monitor alert"
    else:
        subject = one_line(f"{header} — news-monitor, {local_date}", SUBJECT_CHARS)
    message_id = message_id or uuid.uuid4().hex[:12]
    replies_to = list(dict.fromkeys(s.announced for s in followups if s.announced))
    listed = _listed_items(items, shown, layout.sources_per_story)
    return _bidi_closed({
        "kind": kind, "id": message_id, "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "subject": subject,
        # bounded by the caps: the stories the message shows and their first reports; `counts` says how many
        # there were in all, and `more_command` lists every one of them
        "items": [_item_json(i, by_id[i.story], layout) for i in listed],
        "topics": _topics_json(listed),
        "stories": [{k: v for k, v in v.items() if k != "announced"} for v in by_id.values()],
        "counts": {"items": len(items), "stories": len(stories), "items_listed": len(listed),
                   "stories_listed": len(shown), "suppressed": len(suppressed)},
        "more_command": "news-monitor hits --since 1d --json" if len(listed) < len(items) else "",
        "suppressed": [{k: s.get(k) for k in ("kind", "url", "story", "reason", "at")}
                       for s in suppressed[:SUPPRESSED_LISTED]],
        "health": {"failing_feeds": failing, "rule_errors": list(rule_errors),
                   "undelivered": [_undelivered_json(u) for u in undelivered]},
        # the model every rendering reads (added; nothing above changed meaning)
        "header": header, "zone": layout.zone, "created_local": f"{local_date} {local:%H:%M}",
        "local_date": local_date, "ledger": ledger if releases else "",
        "sections": sections, "shown": list(by_id),
        "folded": folded_line(suppressed), "replies_to": replies_to,
        "preheader": _preheader(sections, by_id, header),
    })


def _bidi_closed(value):
    """Every string of the model with its bidi marks closed: a sentence, snippet or clip cut out of a stored text
    can leave an override opened in one piece and closed in the next (stored text itself is scrubbed)."""
    if isinstance(value, str):
        return close_bidi(value)
    if isinstance(value, dict):
        return {k: _bidi_closed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bidi_closed(v) for v in value]
    return value


def _section(kind: str, rule: str | None, title: str, stories: list[_Story], cap: int, message_kind: str,
             ledger: str = "") -> dict:
    shown = stories[:cap]
    more = len(stories) - len(shown)
    command = f"news-monitor hits --since 1d --rule {rule}" if rule and more and message_kind == "digest" else ""
    return {"kind": kind, "rule": rule, "title": title, "stories": [s.story for s in shown],
            "count": len(stories), "more": more, "more_command": command, "ledger": ledger}


def _alert_cap(sections: list[dict]) -> list[dict]:
    """An alert lists at most ALERT_STORIES stories in all, releases first."""
    left, out = ALERT_STORIES, []
    for sec in sections:
        if left <= 0:
            break
        kept = sec["stories"][:left]
        left -= len(kept)
        out.append({**sec, "stories": kept, "more": sec["count"] - len(kept)})
    return out


def _header(releases: int, stories: int, topics: int, followups: int, failing: int, rule_errors: int) -> str:
    parts = []
    if releases:
        parts.append(plural(releases, "release"))
    if stories:
        parts.append(f"{plural(stories, 'new story', 'new stories')} on {plural(topics, 'topic')}")
    if followups:
        parts.append(plural(followups, "follow-up"))
    if failing:
        parts.append(f"{plural(failing, 'feed')} failing")
    if rule_errors:
        parts.append(f"{plural(rule_errors, 'rule edit')} not applied")
    return " · ".join(parts) or "No new stories"


def _preheader(sections: list[dict], by_id: dict[str, dict], header: str) -> str:
    """The line a mail client shows beside the subject: the first story's headline."""
    first = next((by_id[s] for sec in sections for s in sec["stories"]), None)
    return one_line(f"{header}. {first['title']}" if first else header, 150)


def folded_line(suppressed: Sequence[dict]) -> str:
    """One plain-words line for what was folded since the last digest."""
    kinds = Counter(s["kind"] for s in suppressed)
    parts = []
    if kinds.get("copy"):
        n = kinds["copy"]
        parts.append(f"{plural(n, 'copy', 'copies')} of stories from other outlets folded into the original")
    if kinds.get("update"):
        n = kinds["update"]
        parts.append(f"{plural(n, 'article')} updated by {'its' if n == 1 else 'their'} publisher, not sent again")
    if kinds.get("alert"):
        parts.append(f"{plural(kinds['alert'], 'alert')} held back (a follow-up, or no new release)")
    parts.extend(plural(n, k) for k, n in sorted(kinds.items()) if k not in ("copy", "update", "alert"))
    return "; ".join(parts)


Complete = Callable[[Sequence[MessageItem]], Sequence[MessageItem]]


def _completed(stories: list[_Story], items: Sequence[MessageItem], shown: set[str], complete: Complete
               ) -> tuple[list[_Story], list[MessageItem]]:
    """The stories and items with the shown stories' items replaced by what `complete` gives for them."""
    wanted = [i for i in items if i.story in shown]
    full = {id(old): new for old, new in zip(wanted, complete(wanted), strict=True)}
    stories = [s._replace(group=[full[id(i)] for i in s.group], lead=full[id(s.lead)]) if s.story in shown else s
               for s in stories]
    return stories, [full.get(id(i), i) for i in items]


class _Story(NamedTuple):
    """What places a story in a message, worked out for every story: its strongest topic, its lead report, when
    it was first seen, how many sources it has, whether it reports a release or follows up an earlier one. (A
    tuple: a day's digest makes one for each of ~15,000 stories, and a frozen dataclass costs 3x to make.)"""

    story: str
    group: list[MessageItem]
    rules: list[str]
    topic: str
    lead: MessageItem
    first_seen: str
    sources_total: int
    release: bool  # merged_facts of any facts is a (non-empty) dict: the view's facts
    followup: bool
    announced: str | None


def _stories(items: Sequence[MessageItem], order: dict[str, int]) -> list[_Story]:
    """Every story of the items, in the order of its first item: its best headline, strongest topic, sources."""
    groups: dict[str, list[MessageItem]] = {}
    for item in items:
        group = groups.get(item.story)
        if group is None:
            groups[item.story] = [item]
        else:
            group.append(item)
    rank = {}  # rule -> its sort key: rule order, then name
    lowered: dict[tuple[str, ...], frozenset[str]] = {}
    stories = []
    for story, group in groups.items():
        if len(group) == 1 and len(group[0].rules) == 1:  # most stories of a day: one item, one rule
            lead = group[0]
            rules = list(lead.rules)
            topic = rules[0]
            first_seen = lead.first_seen
        else:
            names = group[0].rules if len(group) == 1 else {r for i in group for r in i.rules}
            for r in names:
                if r not in rank:
                    rank[r] = (order.get(r, len(order)), r)
            rules = sorted(names, key=rank.__getitem__)
            # one rule: the one there is, without weighing it
            topic = rules[0] if len(rules) == 1 else _strongest(rules, group, order, lowered) if rules else ""
            lead = group[0] if len(group) == 1 else _best(group, topic)
            first_seen = lead.first_seen if len(group) == 1 else min(i.first_seen for i in group)
        urls = {lead.url, *[src[1] for src in _raw_sources(lead, group)]}
        # a follow-up only when every report of it here came after the message that announced it: a story whose
        # alert went out since the last digest is that digest's news (a release among the releases), whichever
        # of its reports has the best headline
        followup = lead.followup if len(group) == 1 else all(i.followup for i in group)
        stories.append(_Story(story, group, rules, topic, lead, first_seen, max(len(urls), lead.sources_count),
                              bool(lead.facts), followup, lead.announced))
    return stories


def _raw_sources(lead: MessageItem, group: Sequence[MessageItem]) -> tuple:
    """The story's reports as the store listed them (copies included), or its items' when it did not."""
    return lead.sources or tuple((i.feed, i.url, i.outlet_url) for i in group)


def _strongest(rules: Sequence[str], group: Sequence[MessageItem], order: dict[str, int],
               lowered: dict[tuple[str, ...], frozenset[str]] | None = None) -> str:
    """The rule with the strongest hold on a story: its words in a headline (whole words: "Belarus" is not in
    "Belaruskali"), then how many distinct words, then rule order (each rule's words and the headlines folded
    once per story, not once per rule).
    `lowered`: words lists already folded, kept across the stories of a message (the store gives the same
    tuple for the same stored words, and a day repeats a few hundred of them)."""
    lowered = {} if lowered is None else lowered
    words: dict[str, set[str]] = {}
    for i in group:
        for r, _, ws in i.reasons:
            folded = lowered.get(ws)
            if folded is None:
                folded = lowered[ws] = frozenset(_spaced(w) for w in ws)
            found = words.get(r)
            if found is None:
                words[r] = set(folded)
            else:
                found.update(folded)
    titles = [_spaced(i.title) for i in group]

    def strength(rule: str) -> tuple:
        found = words.get(rule, ())
        in_title = sum(1 for w in found for title in titles if w.strip() and w in title)
        return (-in_title, -len(found), order.get(rule, len(order)), rule)
    return min(rules, key=strength)


def _story_view(s: _Story, layout: Layout, zone: ZoneInfo, now: datetime | None = None) -> dict:
    """A story as the message shows it: its lead report, the sentence that made its topic's rule match, its
    sources by outlet name (capped), merged release facts."""
    lead, group, topic, rules = s.lead, s.group, s.topic, s.rules
    sentence, words = next(((t, list(ws)) for i in [lead, *group] for r, t, ws in i.reasons if r == topic and t),
                           (lead.snippet, list(lead.matched)))
    seen, sources = set(), []
    # the lead report first: the byline names it, "+N sources" the others
    for src in [(lead.feed, lead.url, lead.outlet_url), *_raw_sources(lead, group)]:
        name, url = src[0], src[1]
        if url in seen:
            continue
        seen.add(url)
        sources.append({"feed": name, "url": url, "domain": domain(src[2] if len(src) > 2 and src[2] else url)})
    facts = merged_facts(lead.facts) if lead.facts else None
    view = {
        "story": s.story, "title": lead.title, "url": lead.url, "feed": lead.feed,
        "domain": domain(lead.outlet_url or lead.url), "published": lead.published,
        "first_seen": s.first_seen, "time": local_time(lead.published or lead.first_seen, zone, now),
        "snippet": lead.snippet, "rules": rules, "topic": topic, "also": [r for r in rules if r != topic],
        "also_titles": [tag(layout, r) for r in rules if r != topic],
        "sentence": sentence, "words": words,
        "matched": list(dict.fromkeys(w for i in group for w in i.matched)),
        "sources": sources[: layout.sources_per_story], "sources_total": s.sources_total,
        "new_reports": [i.url for i in group[:NEW_REPORTS_LISTED]], "facts": facts, "facts_line": facts_line(facts),
        "followup": s.followup, "alerted": any(i.alerted for i in group), "text_source": lead.text_source,
        "announced": lead.announced,
    }
    if len(group) > NEW_REPORTS_LISTED:  # only then: every other message's JSON stays as it was
        view["new_reports_total"] = len(group)
    return view


def _spaced(text: str) -> str:
    """`text` as its lower-cased words between single spaces, with a space at each end: a word or phrase is in a
    headline as a whole when its spaced form is in the headline's."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


_WORD = re.compile(r"\w+")


def _best(group: Sequence[MessageItem], topic: str) -> MessageItem:
    """The story's best headline: one whose own title carries the topic's words, from a page rather than a
    feed summary, the earliest of those."""
    def score(pair: tuple[int, MessageItem]) -> tuple:
        n, item = pair
        words, title = [_spaced(w) for r, _, ws in item.reasons if r == topic for w in ws], _spaced(item.title)
        return (-sum(1 for w in words if w.strip() and w in title), item.text_source != "page",
                item.title == "(untitled)", n)
    return min(enumerate(group), key=score)[1]


def _listed_items(items: Sequence[MessageItem], shown: set[str], per_story: int) -> list[MessageItem]:
    """The items the JSON lists: those of the stories shown, at most `per_story` of each, in their order."""
    taken: Counter[str] = Counter()
    out = []
    for item in items:
        if item.story in shown and taken[item.story] < per_story:
            taken[item.story] += 1
            out.append(item)
    return out


def _topics_json(items: Sequence[MessageItem]) -> dict[str, list[str]]:
    """The outbox's `topics`: every rule and the URLs of its articles (an article under each rule it hit)."""
    topics: dict[str, list[str]] = {}
    for item in items:
        for rule in item.rules:
            topics.setdefault(rule, []).append(item.url)
    return dict(sorted(topics.items()))


def _item_json(item: MessageItem, view: dict, layout: Layout) -> dict:
    """An item as the outbox always gave it; its story's sources and facts come from the story view built
    once (capped), not copied whole per item."""
    data = asdict(item)
    data["rules"] = list(item.rules)
    data["matched"] = list(item.matched)
    data["sources"] = view["sources"]
    data["sources_total"] = view["sources_total"]
    data["facts"] = view["facts"]
    data["reasons"] = [{"rule": r, "sentence": s, "words": list(ws)} for r, s, ws in item.reasons]
    data["domain"] = domain(item.outlet_url or item.url)
    for key in ("article_id", "announced", "outlet_url"):
        data.pop(key, None)
    return data


def _undelivered_json(row: dict) -> dict:
    """A delivery that did not happen: which message, to which channel, dead or still retrying, and why."""
    return {"message": row.get("message_id"), "kind": row.get("kind"), "subject": row.get("subject"),
            "channel": row.get("channel"), "state": "dead" if row.get("status") == "dead" else "retrying",
            "attempts": row.get("attempts"), "queued": row.get("queued"),
            "reason": one_line(row.get("reason") or row.get("last_error") or "not tried yet", 300)}


def _health_json(row: dict) -> dict:
    """A failing feed; `error` is its last error as a reader takes it, without the feed's URL (shown once, beside
    it: a 300-character URL repeated in the error filled the warning)."""
    data = {k: row.get(k) for k in ("name", "url", "errors", "last_error", "last_ok")}
    error, url = data["last_error"] or "", data["url"] or ""
    data["error"] = " ".join(error.replace(f"{url}: ", "").replace(url, "the feed's URL").split()) if url else error
    return data
