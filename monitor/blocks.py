"""Renders the one message model (the JSON monitor/digest.py builds) to Slack Block Kit posts: a header, health,
releases first, one section per story with its outlets in a context line. Within Slack's limits (50 blocks a
post, 3,000 characters a section, 150 in a header): numbered posts, and past MAX_POSTS a closing "+N more" line.
"""

from __future__ import annotations

from monitor.links import linkable
from monitor.render import highlight_spans, new_reports, one_line, plural, short_url
from monitor.text.scrub import scrub

MAX_BLOCKS = 50  # Slack: blocks per message
MAX_SECTION = 3000  # Slack: characters of a section's text
MAX_HEADER = 150  # Slack: characters of a header block's plain text
MAX_CONTEXT = 2000  # a context element's text (Slack allows 3,000; a byline needs far less)
MAX_POSTS = 5  # a digest beyond five posts is noise in a channel; the rest is counted and left to email/outbox


def escape(text: str) -> str:
    """mrkdwn's control characters: &, < and > (a feed's '<!channel>' must not ping anyone)."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str) -> str:
    """A plain_text field (headers): no markup is read there, but angle brackets from a feed still become
    look-alikes, so nothing resembling <!channel> reaches Slack."""
    return (text or "").replace("<", "‹").replace(">", "›")


def link(url: str, label: str) -> str:
    """A mrkdwn link ('|' would end the URL early, so it is percent-encoded); a URL that may not be a link is
    plain text after the label, nothing clickable."""
    if not linkable(url):  # never `<#|label>`, Slack's channel-link syntax, nor any other link
        return escape(label) + (f" (not a web link: {escape(one_line(url, 300))})" if url else "")
    return f"<{escape(url).replace('|', '%7C')}|{escape(label)}>"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else scrub(text[: limit - 1] + "…")  # scrub: close cut-off bidi marks


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, MAX_CONTEXT)}]}


def _marked(sentence: str, words: list[str]) -> str:
    return "".join(f"*{escape(p)}*" if hit else escape(p) for p, hit in highlight_spans(one_line(sentence, 600), words))


def _story_units(s: dict) -> list[dict]:
    lines = [f"*{link(s['url'], one_line(s['title'], 250))}*"]
    if s.get("facts_line"):
        lines.append(f":unlock: *{escape(one_line(s['facts_line'], 600))}*")
    if s.get("sentence"):
        lines.append("> " + _marked(s["sentence"], s.get("words") or []))
    byline = [f"{escape(one_line(s['feed'], 80))}" + (f" ({escape(s['domain'])})" if s.get("domain") else ""),
              escape(s.get("time") or "")]
    if s.get("also_titles"):
        byline.append("also: " + escape("; ".join(s["also_titles"])))
    others = s["sources"][1:]
    if s.get("sources_total", 1) > 1:
        more = s["sources_total"] - len(s["sources"])
        byline.append(f"+{plural(s['sources_total'] - 1, 'source')}: "
                      + ", ".join(link(o["url"], one_line(o["feed"], 60)) for o in others)
                      + (f" +{more} more" if more > 0 else ""))
    return [_section("\n".join(lines)), _context(" · ".join(p for p in byline if p))]


def _units(data: dict) -> list[tuple[list[dict], int]]:
    """The message as units that stay together in one post (a story's section and its byline), each with the
    number of stories it carries."""
    stories = {s["story"]: s for s in data.get("stories", [])}
    units: list[tuple[list[dict], int]] = []
    health, errors = data["health"]["failing_feeds"], data["health"]["rule_errors"]
    undelivered = data["health"].get("undelivered", [])
    if health or errors or undelivered:
        lines = []
        if health:
            lines.append(f":warning: *{plural(len(health), 'feed')} failing*")
            lines += [f"• {escape(one_line(f.get('name') or f.get('url') or '', 80))} — "
                      f"{plural(f.get('errors') or 0, 'error')} in a row: "
                      f"{escape(one_line(f.get('error') or f.get('last_error') or '', 160))}"
                      + (f" — {link(f['url'], short_url(f['url']))}" if f.get("url") else "") for f in health[:10]]
            if len(health) > 10:
                lines.append(f"+{len(health) - 10} more — `news-monitor status`")
        if errors:
            lines.append(f":warning: *{plural(len(errors), 'rule edit')} not applied* (the last good version stays)")
            lines += [f"• `{escape(one_line(e, 300))}`" for e in errors[:10]]
        if undelivered:
            lines.append(f":warning: *{plural(len(undelivered), 'delivery', 'deliveries')} not made* "
                         "— `news-monitor outbox`")
            lines += [f"• {escape(u['kind'] or '')} {escape(u['message'] or '')} to {escape(u['channel'] or '')}: "
                      f"{u['state']} — {escape(one_line(u['reason'] or '', 200))}" for u in undelivered[:10]]
        units.append(([_section(_clip("\n".join(lines), MAX_SECTION))], 0))
    for sec in data.get("sections", []):
        heading = f"*{escape(sec['title'])}*" + (f"  ({sec['count']})" if sec["count"] > 1 else "")
        head = [_section(heading)]
        if sec.get("ledger"):
            head.append(_context(escape(sec["ledger"])))
        views = [stories[s] for s in sec["stories"] if s in stories]
        if sec["kind"] == "followups":
            lines = [f"• {link(v['url'], one_line(v['title'], 200))} — +{plural(new_reports(v), 'report')}"
                     + (f" · {escape(v['facts_line'])}" if v.get("facts_line") else "") for v in views]
            units.append((head + [_section(_clip("\n".join(lines), MAX_SECTION))], len(views)))
        else:
            for n, view in enumerate(views):
                units.append(((head if n == 0 else []) + _story_units(view), 1))
        if sec.get("more"):
            units.append(([_context(f"+{sec['more']} more" + (f" — `{escape(sec['more_command'])}`"
                                                              if sec.get("more_command") else ""))], 0))
    if data.get("folded"):
        units.append(([_context("Folded: " + escape(data["folded"]) + ".")], 0))
    return units


def slack_posts(data: dict) -> list[dict]:
    """The message as one or more Slack webhook posts; never cut silently."""
    if "sections" not in data:  # a message queued before the model existed: its subject and text
        return [{"text": escape(data.get("subject", "")), "unfurl_links": False, "unfurl_media": False}]
    units = _units(data)
    posts: list[list[dict]] = [[]]
    left = 0  # stories that did not fit in MAX_POSTS posts
    for blocks, stories in units:
        # room in every post for its header and a closing line; the first also carries the intro line
        budget = MAX_BLOCKS - (3 if len(posts) == 1 else 2)
        if left or len(posts[-1]) + len(blocks) > budget:
            if left or len(posts) == MAX_POSTS:
                left += stories
                continue
            posts.append([])
        posts[-1].extend(blocks)
    total = len(posts)
    out = []
    title = one_line(data.get("header") or data.get("subject", ""), MAX_HEADER)
    if data.get("kind") == "alert":
        title = one_line(data.get("subject", ""), MAX_HEADER)
    for n, blocks in enumerate(posts, 1):
        number = f" ({n}/{total})" if total > 1 else ""
        header = {"type": "header", "text": {"type": "plain_text", "text": _clip(plain(title), MAX_HEADER - len(number))
                                             + number, "emoji": True}}
        intro = [_context(f"news-monitor {escape(data['kind'])} · {escape(data.get('created_local', ''))} · "
                          f"times in {escape(data.get('zone', 'UTC'))}")] if n == 1 else []
        body = [header, *intro, *blocks]
        if n == total and left > 0:
            body.append(_context(f"+{plural(left, 'more story', 'more stories')} — see the email or the outbox"))
        out.append({"text": escape(one_line(data.get("subject", ""), 300)) + number, "blocks": body,
                    "unfurl_links": False, "unfurl_media": False})
    return out


def slack_payload(data: dict) -> dict:
    """The first post (one-post messages: the whole message)."""
    return slack_posts(data)[0]
