"""Rendering: topics grouped, matched words highlighted and everything from feeds escaped in HTML,
Slack and text; javascript: links made inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from monitor.blocks import slack_payload
from monitor.digest import build_message
from monitor.models import MessageItem
from monitor.render import highlight

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def item(**kw) -> MessageItem:
    base = dict(article_id=1, title="Belarus frees 31 <b>political</b> prisoners", url="https://n.example/a",
                feed="North & <wire>", published="2025-10-07T14:20:00Z", first_seen="2025-10-07T14:25:00Z",
                rules=("belarus-prisoners", "coale"), story="1",
                snippet="Minsk <script>x</script> freed 31 political prisoners, envoy Coale said.",
                matched=("political prisoners", "Coale"))
    return MessageItem(**{**base, **kw})


def test_digest_groups_by_topic_and_highlights_matched_words():
    message = build_message("digest", [item(), item(article_id=2, url="https://n.example/b", rules=("zapad",),
                                                    matched=("Zapad",), snippet="Zapad drills began.")], NOW)
    assert message.data["topics"] == {"belarus-prisoners": ["https://n.example/a"],
                                      "coale": ["https://n.example/a"], "zapad": ["https://n.example/b"]}
    html = message.html
    assert re.search(r"<mark[^>]*>political prisoners</mark>", html) and re.search(r"<mark[^>]*>Coale</mark>", html)
    assert "<script>" not in html and "&lt;script&gt;" in html and "North &amp; &lt;wire&gt;" in html
    assert "*political prisoners*" in message.text
    assert message.data["items"][0]["matched"] == ["political prisoners", "Coale"]


def test_links_from_feeds_cannot_run_script():
    message = build_message("alert", [item(url="javascript:alert(1)")], NOW)
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', message.html))
    assert "(not a web link: javascript:alert(1))" in message.html
    assert "<#|" not in str(slack_payload(message.data)["blocks"])
    assert "(not a web link: javascript:alert(1))" in str(slack_payload(message.data)["blocks"])


def test_slack_text_escapes_control_characters_of_mrkdwn():
    payload = slack_payload(build_message("alert", [item(title="<!channel> ping & <https://evil|x>")], NOW).data)
    assert "<!channel>" not in str(payload) and "&lt;!channel&gt;" in str(payload["blocks"])
    assert payload["unfurl_links"] is False


def test_highlight_escapes_around_marks():
    assert str(highlight("a <b> Minsk", ["minsk"])).startswith("a &lt;b&gt; <mark")
    assert str(highlight("a <b> Minsk", ["minsk"])).endswith(">Minsk</mark>")
    assert str(highlight("<i>", [])) == "&lt;i&gt;"


@pytest.mark.parametrize("url", ["", " javascript:alert(1)", "java\tscript:alert(1)", "http://", "data:text/html,x"])
def test_an_item_without_a_web_link_is_never_a_link_in_any_format(url):
    message = build_message("alert", [item(url=url)], NOW)
    blocks = str(slack_payload(message.data)["blocks"])
    assert all(h.startswith("http") for h in re.findall(r'href="([^"]*)"', message.html))
    assert "Belarus frees 31" in message.html and "Belarus frees 31" in message.text and "Belarus frees 31" in blocks
    assert "<#|" not in blocks and not re.search(r"<[^<>|]*\|Belarus", blocks)
    assert ("(not a web link" in message.text + message.html + blocks) == bool(url)
