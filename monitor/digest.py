"""Turns stored hits into messages: groups items by topic and story and renders text, HTML (jinja2, autoescaped),
Slack blocks and the outbox JSON. Decides nothing about sending and queries nothing.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from monitor.decide.releases import merged_facts
from monitor.models import Message, MessageItem

_HTML = Environment(loader=PackageLoader("monitor", "templates"), undefined=StrictUndefined,
                    autoescape=select_autoescape(default=True, default_for_string=True),
                    trim_blocks=True, lstrip_blocks=True)
_TEXT = Environment(loader=PackageLoader("monitor", "templates"), undefined=StrictUndefined,
                    autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def safe_url(url: str) -> str:
    """Only http(s) links are rendered; a javascript: or data: link from a feed becomes inert."""
    return url if url.lower().startswith(("http://", "https://")) else "#"


_HTML.filters["safe_url"] = safe_url


def highlight(text: str, words: Sequence[str]) -> Markup:
    """Escape `text` and wrap each matched word in <mark>; feed text never reaches HTML unescaped."""
    if not words:
        return Markup(escape(text))
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(escape(text[last:m.start()]))
        out.append(Markup("<mark>%s</mark>") % text[m.start():m.end()])
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


_HTML.filters["highlight"] = highlight


def one_line(text: str, limit: int = 200) -> str:
    """Collapse control characters (CR/LF included) so feed text cannot forge headers or lines."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def group_by_topic(items: Sequence[MessageItem]) -> list[tuple[str, list[MessageItem]]]:
    """Topics in name order; an article that hit two topics is listed under both."""
    topics: dict[str, list[MessageItem]] = {}
    for item in items:
        for rule in item.rules:
            topics.setdefault(rule, []).append(item)
    return sorted(topics.items())


def story_views(items: Sequence[MessageItem]) -> list[dict]:
    """One entry per story: its first headline, every report of it, the merged release facts, the
    matched words; stories not announced before come first, follow-ups after."""
    stories: dict[str, list[MessageItem]] = {}
    for item in items:
        stories.setdefault(item.story, []).append(item)
    views = []
    for story, group in stories.items():
        lead = group[0]
        reports = list(dict.fromkeys(lead.sources or tuple((i.feed, i.url) for i in group)))
        views.append({
            "story": story, "title": lead.title, "url": lead.url, "feed": lead.feed, "published": lead.published,
            "first_seen": min(i.first_seen for i in group), "snippet": lead.snippet,
            "rules": sorted({r for i in group for r in i.rules}),
            "matched": list(dict.fromkeys(w for i in group for w in i.matched)),
            "sources": [{"feed": f, "url": u} for f, u in reports], "new_reports": [i.url for i in group],
            "facts": merged_facts(lead.facts), "followup": lead.followup,
            "alerted": any(i.alerted for i in group), "text_source": lead.text_source,
        })
    return sorted(views, key=lambda v: v["followup"])


def when(stamp: str | None) -> str:
    """A stored UTC timestamp as people read it: 8 Nov 2025 09:05 UTC."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return stamp
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


def facts_line(facts: dict | None) -> str:
    if not facts:
        return ""
    parts = [f"{facts['number']} released" if facts.get("number") else "release reported"]
    if facts.get("names"):
        parts.append("incl. " + ", ".join(facts["names"][:6]))
    if facts.get("destination"):
        parts.append(f"to {facts['destination']}")
    if facts.get("broker"):
        parts.append(f"brokered by {facts['broker']}")
    if facts.get("date"):
        parts.append(f"on {facts['date']}")
    return " · ".join(parts)


def suppressed_line(suppressed: Sequence[dict]) -> str:
    """One summary line of what was folded since the last digest."""
    kinds = Counter(s["kind"] for s in suppressed)
    words = {"copy": "syndicated copies folded into their original", "update": "updated articles (no new alert)",
             "alert": "alerts held back (follow-up reports, or no new release)"}
    return "; ".join(f"{n} {words.get(k, k)}" for k, n in sorted(kinds.items()))


def build_message(kind: str, items: Sequence[MessageItem], now: datetime, health: Sequence[dict] = (),
                  rule_errors: Sequence[str] = (), suppressed: Sequence[dict] = ()) -> Message:
    """Render one digest or alert. `health` lists failing feeds, so feeds never die silently;
    `rule_errors` lists rule edits not applied; `suppressed` is the log of what was folded and why."""
    created = now.astimezone(UTC)
    message_id = uuid.uuid4().hex[:12]
    topics = group_by_topic(items)
    views = story_views(items)
    if kind == "alert":
        lead = views[0] if views else {"title": "", "facts": None}
        facts = facts_line(lead["facts"])
        subject = one_line(f"[news-monitor] Alert: {lead['title']}" + (f" — {facts}" if facts else "")
                           + (f" (+{len(views) - 1} more)" if len(views) > 1 else ""), 250)
    else:
        subject = one_line(f"[news-monitor] Digest {created:%Y-%m-%d}: {sum(not v['followup'] for v in views)} new "
                           f"stor{'ies' if sum(not v['followup'] for v in views) != 1 else 'y'}, "
                           f"{len(items)} article{'s' if len(items) != 1 else ''}")
    fresh = [v for v in views if not v["followup"] and not (kind == "digest" and v["alerted"])]
    context = {"kind": kind, "subject": subject, "created": created.strftime("%Y-%m-%d %H:%M UTC"),
               "topics": [(rule, [v for v in fresh if rule in v["rules"]]) for rule, _ in topics],
               "alerted": [v for v in views if kind == "digest" and v["alerted"] and not v["followup"]],
               "followups": [v for v in views if v["followup"]], "health": list(health),
               "rule_errors": list(rule_errors), "suppressed": suppressed_line(suppressed),
               "count": len(items), "one_line": one_line, "facts_line": facts_line, "when": when}
    context["topics"] = [(rule, group) for rule, group in context["topics"] if group]
    data = {
        "kind": kind, "id": message_id, "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "subject": subject,
        "items": [_item_json(i) for i in items],
        "topics": {rule: [i.url for i in group] for rule, group in topics},
        "stories": [{k: v[k] for k in ("story", "title", "url", "rules", "sources", "first_seen", "facts",
                                       "followup", "matched", "new_reports")} for v in views],
        "suppressed": [{k: s.get(k) for k in ("kind", "url", "story", "reason", "at")} for s in suppressed],
        "health": {"failing_feeds": [_health_json(h) for h in health], "rule_errors": list(rule_errors)},
    }
    return Message(id=message_id, kind=kind, created=data["created"], items=tuple(items), subject=subject,
                   text=_TEXT.get_template("message.txt.j2").render(context),
                   html=_HTML.get_template("message.html.j2").render(context), data=data)


def _item_json(item: MessageItem) -> dict:
    data = asdict(item)
    data["rules"] = list(item.rules)
    data["matched"] = list(item.matched)
    data["sources"] = [{"feed": f, "url": u} for f, u in item.sources]
    data["facts"] = merged_facts(item.facts)
    data.pop("article_id")
    return data


def _health_json(row: dict) -> dict:
    return {k: row.get(k) for k in ("name", "url", "errors", "last_error", "last_ok")}


def slack_payload(data: dict) -> dict:
    """Slack incoming-webhook JSON: mrkdwn with &, < and > escaped so feed text cannot inject links."""
    lines = [f"*{_slack(data['subject'])}*"]
    for rule, urls in data["topics"].items():
        lines.append(f"\n*{_slack(rule)}*")
        for item in data["items"]:
            if item["url"] in urls:
                lines.append(f"• <{_slack_url(safe_url(item['url']))}|{_slack(one_line(item['title'], 150))}> "
                             f"— {_slack(item['feed'])}\n    {_slack(one_line(item['snippet'], 280))}")
    failing = data.get("health", {}).get("failing_feeds", [])
    if failing:
        lines.append(f"\n:warning: {len(failing)} feed(s) failing: "
                     + ", ".join(_slack(f['name'] or f['url']) for f in failing[:10]))
    text = "\n".join(lines)
    return {"text": text[:39_000], "unfurl_links": False, "unfurl_media": False}


def _slack(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_url(url: str) -> str:
    return _slack(url).replace("|", "%7C")
