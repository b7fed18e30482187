"""The one message model and its renderings: order (releases first), each story once under its strongest topic,
caps, the alert subject's first 40 characters, local time, whole-word highlighting, size, contrast, and feed
text escaped in every format."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import lxml.html
import pytest

from monitor.blocks import slack_posts
from monitor.commonmark import render as commonmark
from monitor.digest import Layout, build_message, ledger_line, tag
from monitor.models import Article, FeedItem, Hit
from monitor.render import CONTRAST_PAIRS, PALETTE, highlight_spans
from monitor.store import Store
from tests.message_builders import (
    DESCRIPTIONS,
    LAYOUT,
    NOW,
    SUPPRESSED,
    day,
    failing_feeds,
    item,
    release,
    within_slack_limits,
)

OLD_ITEM_KEYS = {"title", "url", "feed", "published", "first_seen", "rules", "story", "snippet", "text_source",
                 "alerted", "matched", "why", "sources", "facts", "followup"}
OLD_STORY_KEYS = {"story", "title", "url", "rules", "sources", "first_seen", "facts", "followup", "matched",
                  "new_reports"}


def digest(items=None, **kw):
    kw.setdefault("layout", LAYOUT)
    return build_message("digest", day() if items is None else items, NOW, **kw)


def story_titles(html: str) -> list[str]:
    doc = lxml.html.fromstring(html)
    return [a.text_content() for a in doc.xpath("//a[contains(@style,'font-weight:600')]")]


def test_releases_come_first_then_topics_under_their_descriptions():
    message = digest(health=failing_feeds(), suppressed=SUPPRESSED,
                     ledger="4 releases reported since Jun 2025, 205 people")
    data = message.data
    assert data["header"] == "4 releases · 28 new stories on 4 topics · 2 follow-ups · 1 feed failing"
    kinds = [s["kind"] for s in data["sections"]]
    assert kinds[0] == "releases" and kinds[-1] == "followups" and set(kinds[1:-1]) == {"topic"}
    assert [s["title"] for s in data["sections"][1:-1]] == list(DESCRIPTIONS.values())  # in rule order
    text = message.text
    assert text.index("1 feed failing") < text.index("== Releases") < text.index(f"== {DESCRIPTIONS['coale']}")
    assert "4 releases reported since Jun 2025, 205 people" in text
    assert "RELEASE: 52 released · incl. Ihar Losik, Maria Kalesnikava · to Lithuania · via John Coale" in text
    titles = story_titles(message.html)
    assert titles[0].startswith("Belarus frees 52")  # the newest release leads the HTML
    assert "Folded: 2 copies of stories from other outlets folded into the original; 1 article updated by its " \
           "publisher, not sent again." in text
    assert "1 updated articles" not in text and "1 errors" not in text and "matched:" not in text


def test_headings_are_the_rules_descriptions_on_one_line_without_a_closing_full_stop():
    described = Layout(zone="Europe/Vilnius", descriptions={
        "belarus-prisoners": "Political prisoners in Belarus:\n detentions, sentences and releases.\n",
        "coale": "", "sanctions": "Sanctions on Belarus (EU, US, UK)"})
    message = build_message("digest", day(30), NOW, layout=described)
    titles = [s["title"] for s in message.data["sections"] if s["kind"] == "topic"]
    assert titles == ["Political prisoners in Belarus: detentions, sentences and releases", "coale",
                      "Sanctions on Belarus (EU, US, UK)", "zapad"]
    assert "== Political prisoners in Belarus: detentions, sentences and releases (" in message.text
    tagged = [v for v in message.data["stories"] if v["also"] == ["coale"]]
    assert tagged and all(v["also_titles"] == ["coale"] for v in tagged)
    # a story's other topics are tagged by the first part of their heading
    long = Layout(descriptions={"sanctions": "Sanctions on Belarus and relief from them: Belavia, potash and "
                                             "Belaruskali. Not sanctions on other countries.",
                                "coale": "John Coale, the US special envoy to Belarus, and his talks with Minsk.",
                                "zapad": "The Zapad strategic military exercise of Russia and Belarus (e.g. 2025)"})
    assert [tag(long, r) for r in ("sanctions", "coale", "zapad", "belarus-prisoners")] == [
        "Sanctions on Belarus and relief from them", "John Coale",
        "The Zapad strategic military exercise of Russia a…", "belarus-prisoners"]
    both = [v for v in build_message("digest", day(30), NOW, layout=long).data["stories"] if v["also"] == ["coale"]]
    assert both and all(v["also_titles"] == ["John Coale"] for v in both)


def test_each_story_once_under_its_strongest_topic_and_tagged_with_the_others():
    message = digest()
    shown = [s for sec in message.data["sections"] for s in sec["stories"]]
    assert len(shown) == len(set(shown))  # each story once
    titles = story_titles(message.html)
    assert len(titles) == len(set(titles))
    # an article under two topics (sanctions + coale) sits under the one whose words it carries, tagged
    views = {v["story"]: v for v in message.data["stories"]}
    both = [v for v in views.values() if set(v["rules"]) == {"sanctions", "coale"} and len(v["new_reports"]) == 1]
    assert both and all(v["topic"] == "sanctions" and v["also_titles"] == ["John Coale"] for v in both)
    # and it shows the sentence that made *that* rule match, with that rule's words
    assert all("sanctions" in v["sentence"] and v["words"] == ["sanctions"] for v in both)


def test_the_sentence_shown_is_the_one_that_made_the_stories_topic_match():
    """The issue's case: a story listed under one topic showed another rule's sentence. Here the other rule's
    reason comes first in the item and in the story's first report; the topic's sentence is in a later report."""
    sanctions = "Diplomats said the EU would discuss new sanctions on Belarusian potash at the next meeting."
    first = item(60, "sanctions", story="s60", rules=("coale", "sanctions"),
                 reasons=(("coale", "John Coale was not part of the talks.", ("John Coale",)),
                          ("sanctions", sanctions, ("sanctions",))))
    # a story whose first report matched another rule, and whose later report carries the topic's words
    coale = item(61, "coale", story="s61", title="Envoy's week", rules=("coale",))
    later = item(62, "sanctions", story="s61", title="EU sanctions named the judge",
                 reasons=(("sanctions", "The EU named the judge in its next sanctions package.", ("sanctions",)),))
    views = {v["story"]: v for v in digest([first, coale, later]).data["stories"]}
    assert views["s60"]["topic"] == "sanctions" and views["s60"]["sentence"] == sanctions
    assert views["s60"]["words"] == ["sanctions"] and views["s60"]["also"] == ["coale"]
    assert views["s61"]["topic"] == "sanctions" and views["s61"]["title"] == "EU sanctions named the judge"
    assert views["s61"]["sentence"] == "The EU named the judge in its next sanctions package."


def test_the_strongest_topic_counts_whole_words_of_the_headline():
    """Seen on loopback: "U.S. eases sanctions on Belaruskali, Treasury says" was listed under political prisoners,
    whose words "Belarus" and "Belaruskali" both counted as in the headline ("Belarus" inside "Belaruskali")."""
    sentence = "The U.S. Treasury eased sanctions on Belaruskali after a further release of prisoners in Belarus."
    story = item(70, "sanctions", story="s70", title="U.S. eases sanctions on Belaruskali, Treasury says",
                 rules=("belarus-prisoners", "sanctions"),
                 reasons=(("belarus-prisoners", sentence, ("Belaruskali", "release", "prisoners", "Belarus")),
                          ("sanctions", sentence, ("sanctions", "Belaruskali"))))
    [view] = digest([story]).data["stories"]
    assert view["topic"] == "sanctions" and view["also"] == ["belarus-prisoners"]
    # the best headline of a story is judged the same way: "Belarus" is not in "Belaruskali's"
    first = item(71, "zapad", story="s71", title="Belaruskali's exports fall", rules=("zapad",),
                 reasons=(("zapad", "Zapad and Belarus.", ("Belarus", "Zapad")),))
    second = item(72, "zapad", story="s71", title="Belarus hosts Zapad drills", rules=("zapad",),
                  reasons=(("zapad", "Zapad and Belarus.", ("Belarus",)),))
    assert digest([first, second]).data["stories"][0]["title"] == "Belarus hosts Zapad drills"


def test_caps_per_topic_and_per_story_with_the_command_for_the_rest():
    items = [item(n, "zapad") for n in range(10, 50)] + [release(1, 52, reports=12)]
    message = digest(items)
    zapad = next(s for s in message.data["sections"] if s["rule"] == "zapad")
    assert len(zapad["stories"]) == 15 and zapad["more"] == 25
    assert "+25 more — news-monitor hits --since 1d --rule zapad" in message.text
    assert "+25 more — <code>news-monitor hits --since 1d --rule zapad</code>" in message.html
    lead = next(v for v in message.data["stories"] if v["facts"])
    assert len(lead["sources"]) == 5 and lead["sources_total"] == 12
    assert "+11 sources:" in message.text and "+7 more" in message.text
    small = build_message("digest", items, NOW, layout=Layout(stories_per_topic=3, sources_per_story=2))
    assert "+37 more" in small.text and "+10 more" in small.text


def test_a_500_article_digest_stays_under_100_kb_of_html_and_bounded_json():
    message = digest(day(500), health=failing_feeds(long_url=True), suppressed=SUPPRESSED * 100)
    assert len(message.html.encode()) < 100_000, len(message.html.encode())
    # the JSON lists the stories shown and their first reports; it counts the rest and says how to list them
    data = message.data
    assert data["counts"]["items"] == 500 and data["counts"]["items_listed"] == len(data["items"]) < 500
    assert data["more_command"] == "news-monitor hits --since 1d --json"
    assert {s["story"] for s in data["stories"]} == {s for sec in data["sections"] for s in sec["stories"]}
    assert all(len(i["sources"]) <= 5 for i in data["items"])
    assert len(json.dumps(data)) < 300_000
    # twice the articles: the same bounded size (the caps, not the day's volume, decide it)
    bigger = digest(day(1000), health=failing_feeds(long_url=True), suppressed=SUPPRESSED * 100).data
    assert len(json.dumps(bigger)) < 1.2 * len(json.dumps(data))


def test_alert_subject_leads_with_the_fact_within_40_characters():
    message = build_message("alert", [release(1, 52)], NOW, layout=LAYOUT)
    assert message.subject[:40] == "52 freed — to Lithuania, via John Coale:"
    assert len(message.data["sections"][0]["stories"]) == 1
    plain = build_message("alert", [item(3, "coale")], NOW, layout=LAYOUT)
    assert plain.subject.startswith("US envoy John Coale meets officials")  # no facts: the headline itself


def test_an_alert_lists_at_most_a_few_stories():
    items = [item(n, "coale", alerted=True) for n in range(10, 30)]
    message = build_message("alert", items, NOW, layout=LAYOUT)
    assert sum(len(s["stories"]) for s in message.data["sections"]) == 3
    assert "+17 more" in message.text


def test_times_are_local_and_the_zone_is_named_once():
    message = digest([item(3, "coale", published="2026-11-22T22:10:00Z")])
    assert message.data["created"] == "2026-11-22T22:30:00Z"  # the outbox keeps UTC
    assert message.subject.endswith("23 Nov 2026")  # Vilnius is already on the 23rd
    assert "23 Nov 00:10" in message.text and "23 Nov 00:10" in message.html  # UTC+2 in November
    assert message.text.count("Europe/Vilnius") == 1 and message.html.count("Europe/Vilnius") == 1
    assert "UTC" not in message.text
    # a new feed's backlog: an old report's time carries its year, this year's does not
    old = digest([item(3, "coale", published="2025-06-21T09:00:00Z"), item(4, "zapad")])
    times = {v["story"]: v["time"] for v in old.data["stories"]}
    assert times["3"] == "21 Jun 2025 12:00" and "2026" not in times["4"] and "2025" not in times["4"]
    assert "21 Jun 2025 12:00" in old.text and "21 Jun 2025 12:00" in old.html


def test_highlighting_marks_whole_words_only():
    spans = highlight_spans("We discuss US policy; the U.S. envoy focus", ["US"])
    assert [p for p, hit in spans if hit] == ["US"]
    message = digest([item(3, "coale", snippet="x", reasons=(("coale", "They discuss the US role.", ("US",)),))])
    assert "disc<mark" not in message.html and re.search(r"<mark[^>]*>US</mark>", message.html)
    assert "discuss the *US* role" in message.text


def test_health_is_one_quiet_line_when_all_is_well():
    message = digest()
    assert message.text.rstrip().endswith("All feeds answering; all rule edits applied.")
    sick = digest(health=failing_feeds())
    assert "All feeds answering" not in sick.text
    assert sick.text.index("Hrodna Herald") < sick.text.index("== Releases")


def test_the_json_keeps_every_key_it_had():
    data = digest(suppressed=SUPPRESSED, health=failing_feeds()).data
    assert {"kind", "id", "created", "subject", "items", "topics", "stories", "suppressed", "health"} <= data.keys()
    assert all(i.keys() >= OLD_ITEM_KEYS for i in data["items"])
    assert all(s.keys() >= OLD_STORY_KEYS for s in data["stories"])
    assert all({"feed", "url"} <= src.keys() for s in data["stories"] for src in s["sources"])
    assert {"failing_feeds", "rule_errors"} <= set(data["health"])  # extended (undelivered), never narrowed
    assert {"kind", "url", "story", "reason", "at"} == set(data["suppressed"][0])


def test_the_text_part_carries_every_url_of_the_html():
    message = digest(health=failing_feeds(long_url=True))
    hrefs = set(lxml.html.fromstring(message.html).xpath("//a/@href"))
    assert len(hrefs) > 30
    missing = [h for h in hrefs if h not in message.text]
    assert not missing, missing[:3]


def test_every_colour_pair_keeps_4_5_to_1():
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for fg, bg in CONTRAST_PAIRS:
        a, b = sorted((luminance(PALETTE[fg]), luminance(PALETTE[bg])), reverse=True)
        assert (a + 0.05) / (b + 0.05) >= 4.5, (fg, bg)
    html = digest().html
    used = set(re.findall(r"#[0-9a-f]{6}", html))
    assert used <= set(PALETTE.values())  # no colour outside the checked palette


def test_email_html_shape():
    html = digest().html
    assert '<html lang="en">' in html and 'name="color-scheme" content="light dark"' in html
    assert "prefers-color-scheme: dark" in html and "overflow-wrap:anywhere" in html
    assert 'role="presentation"' in html
    doc = lxml.html.fromstring(html)
    body = doc.xpath("//body")[0]
    assert body.get("style") is None  # Gmail's web client drops <body>'s styles: layout and colour live on tables
    preheader = doc.xpath("//body/div[1]")[0]
    assert "display:none" in preheader.get("style") and preheader.text_content().startswith("4 releases")


EVIL = '<script>alert(1)</script> & <!channel> <https://evil.example|click> "q" \r\nBcc: victim@example.org'


def evil_items():
    sentence = f"Belarus freed 5 political prisoners {EVIL}"
    lead = release(1, 5, story="9")
    evil_facts = ({"number": 5, "names": [EVIL], "destination": EVIL, "broker": EVIL, "date": "2026-11-20",
                   "language": "en"},)
    return [
        item(3, "coale", title=EVIL, feed=EVIL, url="https://ok.example/a?x=<b>&y=1", snippet=EVIL,
             reasons=(("coale", EVIL, ("<!channel>", "script")),), outlet_url="javascript:alert(1)",
             sources=((EVIL, "javascript:alert(1)", None), (EVIL, "https://ok.example/b", EVIL))),
        item(4, "zapad", url="javascript:alert(2)", title=f"Zapad {EVIL}", story="4"),
        type(lead)(**{**lead.__dict__, "title": EVIL, "feed": EVIL, "facts": evil_facts,
                      "reasons": (("belarus-prisoners", sentence, ("political prisoners",)),)}),
    ]


def evil_health():
    return [{"name": EVIL, "url": f"https://feeds.example/{EVIL}", "errors": 3, "last_error": EVIL, "last_ok": None}]


@pytest.mark.parametrize("kind", ["digest", "alert"])
def test_feed_text_is_escaped_in_every_format(kind):
    message = build_message(kind, evil_items(), NOW, health=evil_health(), rule_errors=[EVIL], layout=LAYOUT,
                            ledger=EVIL)
    # HTML: no element or attribute from feed text; links only http(s)
    doc = lxml.html.fromstring(message.html)
    assert not doc.xpath("//script") and "<!channel>" not in message.html
    assert all(not a.startswith("on") for el in doc.iter() for a in el.attrib)
    assert all(h.startswith(("http://", "https://")) or h == "#" for h in doc.xpath("//a/@href"))
    assert "javascript:" not in "".join(doc.xpath("//a/@href"))
    # text: one line per field; a CR/LF in feed text cannot start a header-like line
    assert not re.search(r"^\s*Bcc:", message.text, re.M)
    assert "\r" not in message.text
    # subject: one line
    assert "\n" not in message.subject and "\r" not in message.subject
    # Slack: mrkdwn control characters escaped everywhere, no link but ours, no cut
    for post in slack_posts(message.data):
        raw = json.dumps(post, ensure_ascii=False)
        assert "<!channel>" not in raw and "<script" not in raw and "<https://evil" not in raw
        for block in post["blocks"]:
            fields = [block["text"]] if "text" in block else block.get("elements", [])
            texts = [f["text"] for f in fields if f["type"] == "mrkdwn"]  # plain_text (the header) shows & as &
            for text in texts:
                stripped = re.sub(r"<https?://[^|<> ]+\|[^<>]*>", "", text)  # our own links...
                stripped = re.sub(r"^> ", "", stripped, flags=re.M)  # ...and our quote marks
                assert "<" not in stripped and ">" not in stripped, text
                assert not re.search(r"&(?!amp;|lt;|gt;)", stripped), text
    # JSON: the data is kept as given (scripts read it), nothing dropped
    assert message.data["items"][0]["title"] == EVIL


def test_slack_block_kit_limits_on_a_500_article_digest():
    message = digest(day(500), health=failing_feeds(long_url=True), suppressed=SUPPRESSED)
    posts = slack_posts(message.data)
    assert 1 < len(posts) <= 5
    for n, post in enumerate(posts, 1):
        assert within_slack_limits(post) and post["blocks"][0]["type"] == "header"
        assert post["blocks"][0]["text"]["text"].endswith(f"({n}/{len(posts)})")
        assert post["unfurl_links"] is False and post["unfurl_media"] is False
    shown = sum(1 for p in posts for b in p["blocks"] if b["type"] == "section" and b["text"]["text"].startswith("*<"))
    listed = sum(len(s["stories"]) for s in message.data["sections"] if s["kind"] != "followups")
    assert shown == listed  # four topics of 15 stories fit in five posts
    assert "warning" in posts[0]["blocks"][2]["text"]["text"]  # health right after the header
    # 30 topics of 15 stories do not: the fifth post ends by counting the stories left out, never a silent cut
    many = digest([item(n, "zapad", rules=(f"topic-{n % 30}",), reasons=((f"topic-{n % 30}", "Zapad moved.",
                                                                          ("Zapad",)),)) for n in range(10, 700)],
                  health=failing_feeds(long_url=True))
    posts = slack_posts(many.data)
    assert len(posts) == 5 and all(within_slack_limits(p) for p in posts)
    shown = sum(1 for p in posts for b in p["blocks"] if b["type"] == "section" and b["text"]["text"].startswith("*<"))
    listed = sum(len(s["stories"]) for s in many.data["sections"])
    last = posts[-1]["blocks"][-1]
    assert shown < listed and last["type"] == "context"
    assert last["elements"][0]["text"].startswith(f"+{listed - shown} more stories — see the email or the outbox")
    assert "feed failing" in posts[0]["blocks"][2]["text"]["text"]


def test_ledger_line_counts_releases_and_people():
    def facts(number, names=(), when=None):
        return [{"number": number, "names": list(names), "date": when, "destination": None, "broker": None,
                 "language": "en"}]

    stories = [{"facts": facts(52, when="2025-06-21"), "first_seen": "2025-06-21T10:00:00Z"},
               {"facts": facts(16), "first_seen": "2025-09-11T10:00:00Z"},
               {"facts": facts(None, ["Ales Bialiatski"]), "first_seen": "2026-01-11T10:00:00Z"}]
    assert ledger_line(stories) == "3 releases reported since Jun 2025, 69 people"
    assert ledger_line([]) == ""


def test_follow_ups_are_brief_and_name_the_message_they_follow():
    message = digest()
    assert message.data["replies_to"] == ["a1b2c3d4e5f6", "0f0e0d0c0b0a"]
    follow = next(s for s in message.data["sections"] if s["kind"] == "followups")
    assert len(follow["stories"]) == 2
    assert "== Follow-ups to stories already sent (2) ==" in message.text


def test_a_release_alerted_since_the_last_digest_is_among_the_releases_whatever_report_leads():
    """Seen on loopback: the alert carried one report; two more came in the same cycle (follow-ups of that alert),
    and one of those had the best headline. The story is this digest's news, listed with its facts among the
    releases, not as a follow-up of an earlier message."""
    alerted = release(1, 31, story="r31", announced="a31", title="Thirty-one reach Vilnius by bus after a long night")
    later = [release(n, 31, story="r31", followup=True, announced="a31", alerted=False) for n in (2, 3)]
    message = digest([alerted, *later, *day(12)[4:-2]])
    releases = message.data["sections"][0]
    assert releases["kind"] == "releases" and releases["stories"] == ["r31"]
    assert "followups" not in [s["kind"] for s in message.data["sections"]]
    view = next(v for v in message.data["stories"] if v["story"] == "r31")
    assert view["followup"] is False and view["facts"]["number"] == 31 and view["title"].startswith("Belarus frees 31")
    assert "follow-up" not in message.data["header"] and message.data["replies_to"] == []
    # every report of it after the alert: a follow-up, as before
    again = digest([*later, *day(12)[4:-2]])
    assert [s["stories"] for s in again.data["sections"] if s["kind"] == "followups"] == [["r31"]]


def test_an_empty_digest_says_so():
    message = build_message("digest", [], NOW + timedelta(days=1), layout=LAYOUT)
    assert message.subject.startswith("No new stories") and "No new matching articles" in message.text


def test_clipping_never_leaves_a_bidi_isolate_open():
    title = "x" * 195 + "\u2067עברית\u2069 and more words after it"  # an RLI ... PDI across the clip point
    message = build_message("alert", [item(3, "coale", title=title)], NOW, layout=LAYOUT)
    for text in (message.subject, message.data["preheader"], *message.text.splitlines()):
        assert text.count("\u2067") == text.count("\u2069"), repr(text[-20:])
    for post in slack_posts(message.data):
        header = post["blocks"][0]["text"]["text"]
        assert header.count("\u2067") == header.count("\u2069")


# people freed in one (invented) release, each written two ways across reports
FREED = [("Aliaksandr Hrybko", "Alexander Gribko"), ("Volha Snapkova", "Olga Snapkova"),
         ("Ihar Palchyk", "Igor Palchik"), ("Hanna Karpovich", "Anna Karpovich"), ("Yury Lesnik", "Yuri Lesnik"),
         ("Tatsiana Belaya", "Tatiana Belaya"), ("Mikalai Zhuk", "Nikolai Zhuk"), ("Iryna Krot", "Irina Krot")]


STORY = 9001


def release_story(reports: int, copies: int) -> tuple[list, list]:
    """The pending items of a store holding one release story: `reports` articles (each naming two of the freed,
    in one of their spellings, and a number) and `copies` syndicated copies of its first article."""
    store = Store.memory()
    seen = NOW - timedelta(hours=3)
    for n in range(reports):
        item = FeedItem(f"https://outlet{n % 300}.example/feed", f"Outlet {n % 300}", f"r{n}",
                        f"https://outlet{n % 300}.example/2026/11/22/belarus-frees-political-prisoners-{n}",
                        f"Belarus frees 52 political prisoners, report {n}", "", seen)
        text = f"Belarus freed 52 political prisoners on Thursday, report {n} said."
        names = [FREED[(n + k) % len(FREED)][(n // len(FREED)) % 2] for k in range(2)]
        store.add_article(Article(item=item, title=item.title, text=text, text_source="page", language="en"),
                          f"r{n}", f"ur{n}", [Hit("belarus-prisoners", (), False, snippet=text,
                                                 words=("political prisoners",))],
                          seen, story=STORY,
                          facts={"number": 52 - n % 3, "names": names, "date": "2026-11-20", "language": "en",
                                 "destination": "Lithuania", "broker": "John Coale"})
    for n in range(copies):
        copy = FeedItem(f"https://copies{n}.example/feed", f"Copies {n}", f"c{n}",
                        f"https://copies{n}.example/2026/11/22/belarus-frees-52", "Belarus frees 52", "", seen)
        store.add_source(1, Article(item=copy, title=copy.title, text="", text_source="page", language="en"),
                         f"c{n}", f"uc{n}", seen, "a copy of the first report")
    items, _ = store.pending_items("digest")
    store.db.execute("UPDATE stories SET announced = 'an-earlier-alert'")  # the same story, as a follow-up
    followed, _ = store.pending_items("digest")
    return items, followed


def test_a_story_of_thousands_of_reports_and_copies_keeps_the_message_bounded():
    """Issue 13: the digest's JSON stays well under 1 MB whatever a story's size. One release story reported by
    3,000 articles and copied 3,000 times, beside a day of 500 other articles: its view lists 20 of its new reports
    and counts them all, shows 5 of its 6,000 sources, names each of the freed once; the message is about the size
    it is when that story has three reports. As a follow-up, every rendering counts its 3,000 reports."""
    huge, huge_followup = release_story(3000, 3000)
    small, _ = release_story(3, 0)
    sizes, views = {}, {}
    for label, story in (("huge", huge), ("small", small)):
        data = digest(day(500) + story, health=failing_feeds(long_url=True), suppressed=SUPPRESSED * 100).data
        sizes[label] = len(json.dumps(data, ensure_ascii=False).encode())
        views[label] = next(v for v in data["stories"] if v["story"] == str(STORY))
        assert len(data["items"]) == data["counts"]["items_listed"] < data["counts"]["items"]
    view = views["huge"]
    # the difference: 20 of its URLs listed instead of 3, five of its items instead of three (each ~1.5 kB)
    assert sizes["huge"] < 1_000_000 and sizes["huge"] < sizes["small"] + 10_000, sizes
    assert view["new_reports"] == [i.url for i in huge[:20]] and view["new_reports_total"] == 3000
    assert len(view["sources"]) == 5 and view["sources_total"] == 6000
    assert len(view["facts"]["names"]) <= 2 * len(FREED) and view["facts"]["number"] == 52
    assert "new_reports_total" not in views["small"] and len(views["small"]["new_reports"]) == 3  # as before
    message = digest(huge_followup)
    follow = next(s for s in message.data["sections"] if s["kind"] == "followups")
    assert follow["stories"] == [str(STORY)]
    assert "+3000 reports (6000 in all)" in message.text and "+3000 reports (6000 in all)" in message.html
    assert "+3000 reports" in commonmark(message.data)
    assert "+3000 reports" in json.dumps(slack_posts(message.data), ensure_ascii=False)


def test_a_digest_cut_to_its_html_budget_keeps_every_warning():
    """30 topics of 15 stories pass the HTML budget, so the digest is built again with fewer stories per topic:
    the failing feeds, the rule edit and the dead delivery stay, at the top, in every rendering."""
    items = [item(n, "zapad", rules=(f"topic-{n % 30}",), reasons=((f"topic-{n % 30}", "Zapad moved.", ("Zapad",)),))
             for n in range(10, 700)]
    dead = [{"message_id": "m1", "kind": "alert", "subject": "52 freed", "channel": "email", "status": "dead",
             "attempts": 5, "queued": "2026-11-22T10:00:00Z", "reason": "550 mailbox full"}]
    message = digest(items, health=failing_feeds(long_url=True), rule_errors=["rules/zapad.yaml:4:3: bad"],
                     undelivered=dead)
    shown = sum(len(s["stories"]) for s in message.data["sections"])
    assert shown < 30 * 15 and len(message.html.encode()) < 100_000  # the budget cut it
    assert message.data["health"]["undelivered"][0]["reason"] == "550 mailbox full"
    assert message.data["header"].endswith("1 feed failing · 1 rule edit not applied")
    for rendering in (message.text, message.html, json.dumps(slack_posts(message.data)),
                      commonmark(message.data).replace("\\", "")):  # markdown escapes its punctuation
        assert "550 mailbox full" in rendering and "Hrodna Herald" in rendering and "4:3: bad" in rendering
        assert rendering.index("550 mailbox full") < rendering.index(" moved.")


def test_a_failing_feeds_error_does_not_repeat_its_long_url():
    """Seen on loopback: the fetch error names the URL ("fetch: URL: HTTP 503 ..."), so a 300-character URL filled
    the warning twice. The error is shown without it; the URL once, beside it; the JSON keeps the error as it was."""
    feed = failing_feeds(long_url=True)[0]
    url = feed["url"]
    health = [{**feed, "name": "127.0.0.1:8080", "last_error": f"fetch: {url}: HTTP 503 Service Unavailable"}]
    message = digest(health=health)
    assert message.text.count(url) == 1 and "in a row: fetch: HTTP 503 Service Unavailable" in message.text
    assert "fetch: HTTP 503 Service Unavailable" in message.html and message.html.count(url) == 1  # the link's href
    [posted] = [b for p in slack_posts(message.data) for b in p["blocks"]
                if b["type"] == "section" and b["text"]["text"].startswith(":warning:")]
    assert "fetch: HTTP 503 Service Unavailable" in posted["text"]["text"] and f"<{url}|" in posted["text"]["text"]
    assert "fetch: HTTP 503" in commonmark(message.data).replace("\\", "")
    assert message.data["health"]["failing_feeds"][0]["last_error"] == health[0]["last_error"]
