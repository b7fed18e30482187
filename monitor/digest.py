"""Turns stored hits into messages: groups items by topic and renders text, HTML (jinja2, autoescaped),
Slack blocks and the outbox JSON. Decides nothing about sending and queries nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

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


def build_message(kind: str, items: Sequence[MessageItem], now: datetime,
                  health: Sequence[dict] = (), rule_errors: Sequence[str] = ()) -> Message:
    """Render one digest or alert. `health` lists failing feeds, shown so feeds never die silently;
    `rule_errors` lists rule edits that were not applied."""
    created = now.astimezone(UTC)
    message_id = uuid.uuid4().hex[:12]
    topics = group_by_topic(items)
    if kind == "alert":
        first = items[0].title if items else ""
        subject = one_line(f"[news-monitor] Alert: {first}" + (f" (+{len(items) - 1} more)" if len(items) > 1 else ""))
    else:
        subject = one_line(f"[news-monitor] Digest {created:%Y-%m-%d}: {len(items)} new "
                           f"article{'s' if len(items) != 1 else ''}")
    fresh = [i for i in items if not i.alerted]
    already = [i for i in items if i.alerted]
    context = {"kind": kind, "subject": subject, "created": created.strftime("%Y-%m-%d %H:%M UTC"),
               "topics": group_by_topic(fresh) if kind == "digest" else topics,
               "alerted": already if kind == "digest" else [], "health": list(health),
               "rule_errors": list(rule_errors),
               "count": len(items), "one_line": one_line}
    data = {
        "kind": kind, "id": message_id, "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "subject": subject,
        "items": [_item_json(i) for i in items],
        "topics": {rule: [i.url for i in group] for rule, group in topics},
        "health": {"failing_feeds": [_health_json(h) for h in health], "rule_errors": list(rule_errors)},
    }
    return Message(id=message_id, kind=kind, created=data["created"], items=tuple(items), subject=subject,
                   text=_TEXT.get_template("message.txt.j2").render(context),
                   html=_HTML.get_template("message.html.j2").render(context), data=data)


def _item_json(item: MessageItem) -> dict:
    data = asdict(item)
    data["rules"] = list(item.rules)
    data["matched"] = list(item.matched)
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
