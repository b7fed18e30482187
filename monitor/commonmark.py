"""Renders the one message model (the JSON monitor/digest.py builds) to CommonMark for chat services (the
Apprise channel's markdown mode), within a service's length limit. Everything from feeds is escaped: every
ASCII punctuation mark gets its backslash, so no feed text makes emphasis, a heading, a quote, a list, code, an
image, raw HTML or a link; links are ours, made only for web URLs (monitor/links.py). Mentions are broken
(`@everyone`, `@room`, `<!channel>`, `<@123>` get a zero-width space) in every format, plain text too. Pure.
"""

from __future__ import annotations

import re

from monitor.links import linkable
from monitor.render import highlight_spans, new_reports, one_line, plural
from monitor.text.scrub import scrub

# CommonMark: "any ASCII punctuation character may be backslash-escaped" — and then is only that character
_PUNCTUATION = re.compile(r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]")
# a mention starts at an @ that follows no letter (an e-mail address is not one), or at <@ <! <# (Slack, Discord)
_MENTION = re.compile(r"(?<![\w.+-])@(?=[\w&!#])|(?<=<)(?=[!@#&])")
_ZWSP = "\u200b"  # what Discord's own libraries put after an @ so that it pings no one
# a link destination: characters that would end it, or open markup, percent-encoded
_URL_ESCAPES = {c: f"%{ord(c):02X}" for c in "()<>\\`\" "}
MORE_NOTE = "the whole message is in the email, the outbox and `news-monitor hits`"


def unping(text: str) -> str:
    """`text` with every mention broken, so a feed's `@everyone` or `<!channel>` notifies no one."""
    return _MENTION.sub(lambda m: m.group(0) + _ZWSP, text or "")


def escape(text: str, limit: int = 300) -> str:
    """Feed text as literal CommonMark: one line (controls gone, bidi closed), mentions broken, every
    punctuation mark escaped."""
    return _literal(one_line(text or "", limit))


def _literal(text: str) -> str:
    return _PUNCTUATION.sub(r"\\\g<0>", unping(text))


def code(text: str) -> str:
    """Our own commands as a code span, where backslash escapes do not work: no backtick may end it early."""
    return "`" + one_line(text or "", 300).replace("`", "'") + "`"


def link(url: str, label: str, limit: int = 250) -> str:
    """A link to a web URL; anything else is its escaped label, and the URL as escaped text."""
    if not linkable(url):
        return escape(label, limit) + (f" (not a web link: {escape(url, 300)})" if url else "")
    return f"[{escape(label, limit)}]({''.join(_URL_ESCAPES.get(c, c) for c in url)})"


def _marked(sentence: str, words: list[str]) -> str:
    return "".join(f"**{_literal(p)}**" if hit else _literal(p)
                   for p, hit in highlight_spans(one_line(sentence, 400), words))


def _story(s: dict) -> str:
    lines = [f"• **{link(s.get('url') or '', s.get('title') or '')}**"]
    if s.get("facts_line"):
        lines.append(f"  🔓 **{escape(s['facts_line'], 300)}**")
    if s.get("sentence"):
        lines.append(f"  > {_marked(s['sentence'], s.get('words') or [])}")
    byline = [escape(s.get("feed") or "", 80) + (f" \\({escape(s['domain'], 80)}\\)" if s.get("domain") else ""),
              escape(s.get("time") or "", 40)]
    if s.get("also_titles"):
        byline.append("also: " + escape("; ".join(s["also_titles"]), 200))
    if s.get("sources_total", 1) > 1:
        others = s.get("sources", [])[1:]
        more = s["sources_total"] - len(s.get("sources", []))
        byline.append(f"+{plural(s['sources_total'] - 1, 'source')}: "
                      + ", ".join(link(o.get("url") or "", o.get("feed") or "", 60) for o in others)
                      + (f" +{more} more" if more > 0 else ""))
    lines.append("  " + " · ".join(p for p in byline if p))
    return "\n".join(lines)


def _health(data: dict) -> str:
    health = data.get("health", {})
    failing, errors = health.get("failing_feeds", []), health.get("rule_errors", [])
    undelivered = health.get("undelivered", [])
    lines = []
    if failing:
        lines.append(f"⚠️ **{plural(len(failing), 'feed')} failing**")
        lines += [f"• {escape(f.get('name') or f.get('url') or '', 80)} — {plural(f.get('errors') or 0, 'error')} "
                  f"in a row: {escape(f.get('error') or f.get('last_error') or '', 160)}" for f in failing[:5]]
        if len(failing) > 5:
            lines.append(f"+{len(failing) - 5} more — `news-monitor status`")
    if errors:
        lines.append(f"⚠️ **{plural(len(errors), 'rule edit')} not applied** \\(the last good version stays\\)")
        lines += [f"• {escape(e, 200)}" for e in errors[:5]]
    if undelivered:
        lines.append(f"⚠️ **{plural(len(undelivered), 'delivery', 'deliveries')} not made** — `news-monitor outbox`")
        lines += [f"• {escape(u.get('kind') or '', 20)} {escape(u.get('message') or '', 40)} to "
                  f"{escape(u.get('channel') or '', 60)}: {escape(u.get('state') or '', 20)} — "
                  f"{escape(u.get('reason') or '', 160)}" for u in undelivered[:5]]
    return "\n".join(lines)


def _units(data: dict) -> list[tuple[str, int]]:
    """The message's parts after its heading, each with the number of stories it carries."""
    stories = {s["story"]: s for s in data.get("stories", [])}
    units: list[tuple[str, int]] = []
    health = _health(data)
    if health:
        units.append((health, 0))
    for sec in data.get("sections", []):
        heading = f"**{escape(sec.get('title') or '', 150)}**" + (f" \\({sec['count']}\\)" if sec.get("count", 1) > 1
                                                                   else "")
        if sec.get("ledger"):
            heading += f"\n_{escape(sec['ledger'], 300)}_"
        views = [stories[s] for s in sec.get("stories", []) if s in stories]
        if sec.get("kind") == "followups":
            lines = [f"• {link(v.get('url') or '', v.get('title') or '', 200)} — "
                     f"+{plural(new_reports(v), 'report')}" for v in views]
            units.append((heading + "\n" + "\n".join(lines), len(views)))
        else:
            for n, view in enumerate(views):
                units.append(((heading + "\n" if n == 0 else "") + _story(view), 1))
        if sec.get("more"):
            units.append((f"+{sec['more']} more" + (f" — {code(sec['more_command'])}" if sec.get("more_command")
                                                     else ""), 0))
    if data.get("folded"):
        units.append((f"_Folded: {escape(data['folded'], 600)}\\._", 0))
    return units


def render(data: dict, budget: int = 4000) -> str:
    """The message as CommonMark of at most `budget` characters (a service's limit): its parts in order
    while they fit, then one line counting the stories left out."""
    title = data.get("subject") if data.get("kind") == "alert" or not data.get("header") else data["header"]
    head = f"**{escape(title or '', 250)}**"
    if data.get("created_local"):
        head += (f"\n_news\\-monitor {escape(data.get('kind') or '', 20)} · {escape(data['created_local'], 40)} · "
                 f"times in {escape(data.get('zone') or 'UTC', 60)}_")
    if "sections" not in data:  # a message queued before the model existed
        return scrub(head)[:budget]
    parts, left = [head], 0
    note = f"\n\n+{plural(999, 'more story', 'more stories')} — {MORE_NOTE}"
    size = len(head)
    for text, stories in _units(data):
        if left or size + 2 + len(text) + len(note) > budget:
            left += stories
            continue
        parts.append(text)
        size += 2 + len(text)
    body = "\n\n".join(parts)
    if left:
        body += f"\n\n+{plural(left, 'more story', 'more stories')} — {MORE_NOTE}"
    return scrub(body)


def clip_text(text: str, budget: int) -> str:
    """Plain text within `budget` characters, cut at a line end with a note saying where the rest is."""
    text = scrub(unping(text))
    if len(text) <= budget:
        return text
    note = f"\n… cut here: {MORE_NOTE}"
    cut = text.rfind("\n", 0, max(0, budget - len(note)))
    return text[: cut if cut > 0 else max(0, budget - len(note))] + note
