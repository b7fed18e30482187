"""Only web URLs become links: the one rule (monitor/links.py), and what reaches a reader through the
real channels — the outbox files, a mail on a loopback SMTP server, a Slack webhook on loopback — when a
feed item's link is `javascript:`, `data:` or otherwise not http(s)."""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.links import linkable


@pytest.mark.parametrize("url", [
    "http://example.org/a", "https://example.org/a?b=1#c", "HTTPS://Example.org/", "http://127.0.0.1:8080/x",
    "https://[2001:db8::1]/x", "https://пример.рф/новости",
])
def test_web_urls_are_linkable(url):
    assert linkable(url)


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
    "\x01javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
    "mailto:desk@example.org", "ftp://example.org/f", "file:///etc/passwd", "//example.org/a", "/a/b", "a.html",
    "http:example.org", "http:/example.org", "https://", "http://:80/", "http://[::1", "http://exa mple.org/",
    "http://example.org/\nx", "https://example.org/\u2028", "\u00a0https://example.org/", "", None, 42,
])
def test_anything_else_is_not(url):
    assert not linkable(url)


BAD_LINKS = ["javascript:alert(document.cookie)", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
             "vbscript:msgbox(1)", "file:///etc/passwd", " JaVaScRiPt:alert(2)"]
REPORTS = ["Viasna says Minsk released the political prisoners on Friday; the release was confirmed by lawyers.",
           "Fourteen political prisoners walked free at the Lithuanian border, a rights group in Vilnius said.",
           "Relatives met the freed political prisoners in Grodno after a court in Minsk ordered the release.",
           "A pardon freed political prisoners held in Navapolatsk, their lawyers told reporters in Warsaw.",
           "Belarusian exiles in Riga welcomed the released political prisoners at a rally on Sunday."]
# what a title may carry to reach a Slack reader as markup: a mention of everyone, of a user, a link of its own
INJECTED = "<!channel> <@U024BE7LH> a & b | <https://evil.example|click>"


def _feed(base: str) -> bytes:
    items = "".join(
        f"<item><title>Belarus frees political prisoners, report {n} {escape(escape(INJECTED))}</title>"
        f"<link>{escape(link)}</link><guid>bad-{n}</guid><description>{text}</description></item>"
        for n, (link, text) in enumerate(zip(BAD_LINKS, REPORTS, strict=True)))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><link>{base}/</link>{items}'
            "</channel></rss>").encode()


def _links_in(html: str) -> list[str]:
    return re.findall(r"""href\s*=\s*["']?([^"' >]*)""", html, re.IGNORECASE)


def _slack_links_in(payload: str) -> list[str]:
    return re.findall(r"<([^<>|]*)\|", payload)


def test_a_feed_link_that_is_not_http_is_plain_text_in_every_format(site, smtp_inbox, write_config):
    """The parse stage keeps no non-web link (the item has none); every format then shows the title as
    text. Before, HTML made it `<a href="#">` and Slack `<#|title>`, its channel-link syntax."""
    inbox, port = smtp_inbox
    site.route("/wire.xml", (200, {"Content-Type": "application/rss+xml"}, _feed(site.base)))
    site.route("/hooks/slack", (200, {"Content-Type": "text/plain"}, b"ok"))
    config = write_config([{"url": site.url("/wire.xml"), "name": "Wire"}], channels=[
        {"type": "file"},
        {"type": "email", "host": "127.0.0.1", "port": port, "tls": "none", "from": "m@example.org",
         "to": "a@example.org"},
        {"type": "slack"}])
    env = {"MONITOR_SLACK_WEBHOOK_URL": site.url("/hooks/slack")}
    runner = CliRunner()
    assert runner.invoke(main, ["--config", str(config), "run", "--once"], env=env).exit_code == 0
    assert runner.invoke(main, ["--config", str(config), "digest"], env=env).exit_code == 0

    outbox = config.parent / "state" / "outbox"
    htmls = [p.read_text(encoding="utf-8") for p in sorted(outbox.glob("*.html"))]
    texts = [p.read_text(encoding="utf-8") for p in sorted(outbox.glob("*.txt"))]
    htmls += [m.get_body(("html",)).get_content() for m in inbox.messages]
    texts += [m.get_body(("plain",)).get_content() for m in inbox.messages]
    slack = [r.body.decode("utf-8") for r in site.hits_for("/hooks/slack") if r.method == "POST"]
    assert len(inbox.messages) >= 2 and len(slack) >= 2 and len(htmls) >= 4  # an alert and a digest each

    for html in htmls:  # the feed's links were never web links: the titles stand as text, nothing points anywhere
        assert "Belarus frees political prisoners" in html and not re.search(r"<a [^>]*>\s*Belarus frees", html)
        assert all(link.lower().startswith(("http://", "https://")) for link in _links_in(html)), _links_in(html)
        assert 'href="#"' not in html and "javascript:" not in html and "data:text" not in html
    for text in texts:
        assert "Belarus frees political prisoners" in text
        assert "javascript:" not in text and "(not a web link" not in text
    for body in slack:
        payload = json.dumps(json.loads(body), ensure_ascii=False)
        assert "Belarus frees political prisoners" in payload and "javascript:" not in payload
        assert all(link.startswith(("http://", "https://")) for link in _slack_links_in(payload)), payload
        assert "<#|" not in payload and not re.search(r"\|Belarus frees", payload)
        # the title's own markup arrives as text: Slack's <, > and & escaped, so no mention and no link of its own
        assert "<!channel>" not in payload and "<@U" not in payload
        assert not any("evil" in link for link in _slack_links_in(payload))
        assert "&lt;!channel&gt; &lt;@U024BE7LH&gt; a &amp; b | &lt;https://evil.example|click&gt;" in payload
    jsons = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(outbox.glob("*.json"))]
    titles = [item["title"] for message in jsons for item in message["items"]]
    assert titles and all(title.endswith(INJECTED) for title in titles)  # the outbox JSON carries the text as is
    assert {item["url"] for message in jsons for item in message["items"]} == {""}  # and no non-web link
