"""The CommonMark renderer for chat channels, pure and table-driven: every punctuation mark from feeds is
escaped, mentions are broken and e-mail addresses are not, links are made only to web URLs, and a message
of any size fits the budget it is given, saying how many stories it left out."""

from __future__ import annotations

import string

import pytest
from apprise.conversion import markdown_to_html

from monitor.commonmark import MORE_NOTE, clip_text, code, escape, link, render, unping
from monitor.digest import build_message
from tests.message_builders import LAYOUT, NOW, day, failing_feeds

ZWSP = "\u200b"


def test_every_ascii_punctuation_mark_is_escaped_and_reads_back_as_itself():
    text = string.punctuation
    escaped = escape(text)
    assert escaped.replace(ZWSP, "") == "".join("\\" + c for c in text)
    # Apprise's CommonMark reader gives back the characters themselves (HTML-escaped), nothing made of them
    assert markdown_to_html(f"x {escaped} y").replace(ZWSP, "") == (
        "<p>x !\"#$%&amp;'()*+,-./:;&lt;=&gt;?@[\\]^_`{|}~ y</p>")


@pytest.mark.parametrize("text, expected", [
    ("@everyone look", f"@{ZWSP}everyone look"),
    ("ping @here and @room", f"ping @{ZWSP}here and @{ZWSP}room"),
    ("<!channel> <!here|here>", f"<{ZWSP}!channel> <{ZWSP}!here|here>"),
    ("<@U123> <@&456> <#C789>", f"<@{ZWSP}U123> <@{ZWSP}&456> <{ZWSP}#C789>"),
    ("(@user)", f"(@{ZWSP}user)"),
    ("press@example.org and a.b@c.d", "press@example.org and a.b@c.d"),  # e-mail addresses are not mentions
    ("price @ 5", "price @ 5"),
    ("", ""),
])
def test_mentions_are_broken_and_nothing_else(text, expected):
    assert unping(text) == expected


@pytest.mark.parametrize("url, label, expected", [
    ("https://example.org/a_(b)", "Title", "[Title](https://example.org/a_%28b%29)"),
    ("http://example.org/x y", "T", "T (not a web link: http\\:\\/\\/example\\.org\\/x y)"),
    ("javascript:alert(1)", "Click", "Click (not a web link: javascript\\:alert\\(1\\))"),
    ("data:text/html,<b>", "D", "D (not a web link: data\\:text\\/html\\,\\<b\\>)"),
    ("/relative/path", "R", "R (not a web link: \\/relative\\/path)"),
    ("", "No link", "No link"),
    ("https://example.org/<script>", "*x*", "[\\*x\\*](https://example.org/%3Cscript%3E)"),
])
def test_links_only_to_web_urls(url, label, expected):
    assert link(url, label) == expected


def test_code_spans_hold_our_commands_without_escapes():
    assert code("news-monitor hits --since 1d --rule zapad") == "`news-monitor hits --since 1d --rule zapad`"
    assert code("a`b") == "`a'b`"


@pytest.mark.parametrize("budget", [500, 1000, 1800, 3600])
@pytest.mark.parametrize("kind", ["digest", "alert"])
def test_a_message_of_any_size_fits_its_budget_and_counts_what_it_left_out(kind, budget):
    message = build_message(kind, day(200), NOW, health=failing_feeds(True), layout=LAYOUT)
    body = render(message.data, budget)
    assert len(body) <= budget
    assert body.startswith("**")
    if kind == "digest":
        assert f"more stories — {MORE_NOTE}" in body
    html = markdown_to_html(body)
    assert "<script" not in html and all(h.startswith("https://") for h in
                                          (p.split('"', 1)[0] for p in html.split('href="')[1:]))


def test_plain_text_is_cut_at_a_line_end_with_a_note():
    text = "\n".join(f"line {n} @everyone" for n in range(100))
    clipped = clip_text(text, 300)
    assert len(clipped) <= 300 and clipped.endswith(MORE_NOTE) and "@everyone" not in clipped
    assert all(line.startswith(("line", "… cut here")) for line in clipped.splitlines())
    assert clip_text("short \u202eevil", 300) == "short \u202eevil\u202c"
