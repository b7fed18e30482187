"""The Decider and the pure questions of monitor/decide/, asked directly: a copy is folded with its reason,
an article joins its story, a release rule alerts only for a new release, a story alerts once per rule,
and new / changed / due-a-revisit items are told apart over what the store answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.decide import STORY_MEMORY, Decider
from monitor.decide.alerts import claim, follow_up_reason, no_release_reason
from monitor.decide.new import item_hash, revisit_due, sort_items, text_unchanged
from monitor.decide.stories import FOLLOW_UP
from monitor.models import Article, FeedItem, Hit, StoredArticle
from monitor.rules.book import Rule
from monitor.rules.query import parse
from tests.helpers import ARTICLES, BY_ID

NOW = datetime(2025, 12, 20, 12, 0, tzinfo=UTC)
RULES = {
    "belarus-prisoners": Rule("belarus-prisoners", "", "belarus", parse("belarus"), "immediate", None,
                              Path("rules/belarus-prisoners.yaml"), event="release"),
    "sanctions": Rule("sanctions", "", "sanctions", parse("sanctions"), "immediate", None,
                      Path("rules/sanctions.yaml")),
}


def article(labelled: dict) -> Article:
    item = FeedItem(labelled["outlet"], labelled["outlet"], labelled["id"], labelled["url"], labelled["title"], "",
                    labelled["published"])
    return Article(item, labelled["title"], labelled["text"], "page", labelled["language"])


def hits(*rules: str) -> list[Hit]:
    return [Hit(rule, (), alert=True) for rule in rules]


def test_a_syndicated_copy_is_folded_into_its_original_with_the_reason():
    decider = Decider()
    original = decider.decide(article(BY_ID["a1-northwire"]), hits("belarus-prisoners"), RULES, NOW)
    decider.record(1, original.story, original, NOW)
    copy = decider.decide(article(BY_ID["a5-syndicated"]), hits("belarus-prisoners"), RULES, NOW)
    assert copy.duplicate_of == 1 and copy.distance is not None and copy.story is None
    assert copy.copy_reason == (f"copy of article 1 (SimHash {copy.distance} bits apart): "
                                "stored as another source of it")
    assert copy.hits == () and copy.facts is None  # a copy is a source of its original, nothing more


def test_an_article_without_hits_forms_no_story_and_reads_no_release():
    decision = Decider().decide(article(BY_ID["a1-northwire"]), [], RULES, NOW)
    assert (decision.duplicate_of, decision.story, decision.facts, decision.hits) == (None, None, None, ())


def test_a_release_rule_alerts_only_for_a_new_release():
    release = Decider().decide(article(BY_ID["a1-northwire"]), hits("belarus-prisoners", "sanctions"), RULES, NOW)
    assert release.facts is not None and release.facts.number == 52
    assert [h.alert for h in release.hits] == [True, True] and release.dropped == ()
    trap = BY_ID["t2-relatives-detained"]
    other = Decider().decide(article(trap), hits("belarus-prisoners", "sanctions"), RULES, NOW)
    assert other.facts is None
    assert [(h.rule, h.alert) for h in other.hits] == [("belarus-prisoners", False), ("sanctions", True)]
    assert other.dropped == (no_release_reason("belarus-prisoners"),)


def test_facts_are_read_only_when_a_rule_alerts_on_releases():
    decision = Decider().decide(article(BY_ID["a1-northwire"]), hits("sanctions"), RULES, NOW)
    assert decision.facts is None and [h.alert for h in decision.hits] == [True]


def test_a_later_report_joins_the_story_of_the_first_and_describe_looks_nothing_up():
    decider = Decider()
    first = decider.decide(article(BY_ID["a1-northwire"]), hits("belarus-prisoners"), RULES, NOW)
    assert first.story is None and first.story_reason.startswith("new story")
    decider.record(7, first.story, first, NOW)
    later = next(a for a in ARTICLES if a["story"] == "release-52" and not a.get("copy_of")
                 and a["id"] != "a1-northwire")
    joined = decider.decide(article(later), hits("belarus-prisoners"), RULES, NOW)
    assert joined.story == 7 and joined.story_reason.startswith("joined story 7")
    described = Decider.describe(article(BY_ID["a1-northwire"]), hits("belarus-prisoners"), RULES)
    assert described.duplicate_of is None and described.story is None and described.facts is not None


def test_idle_stories_are_forgotten_after_the_story_memory():
    decider = Decider()
    other = decider.decide(article(BY_ID["t4-blogger-sentenced"]), hits("belarus-prisoners"), RULES, NOW)
    assert other.facts is None
    decider.record(1, other.story, other, NOW)
    published = BY_ID["t4-blogger-sentenced"]["published"]
    assert decider.forget_before(published + STORY_MEMORY - timedelta(hours=1)) == 0
    assert decider.forget_before(published + STORY_MEMORY + timedelta(hours=1)) == 1


def test_release_stories_are_kept_for_follow_ups_then_forgotten():
    # an interview with a freed prisoner weeks later still finds its release story (FOLLOW_UP, not STORY_MEMORY)
    decider = Decider()
    first = decider.decide(article(BY_ID["a1-northwire"]), hits("belarus-prisoners"), RULES, NOW)
    assert first.facts is not None and first.features.freed
    decider.record(1, first.story, first, NOW)
    published = BY_ID["a1-northwire"]["published"]
    assert decider.forget_before(published + STORY_MEMORY + timedelta(hours=1)) == 0
    assert decider.forget_before(published + FOLLOW_UP + timedelta(hours=1)) == 1


def test_exactly_one_alert_per_release_event_through_the_decider():
    # the fixture through decide -> claim -> record, as the pipeline and the store run them
    decider, alerted, alerts = Decider(), {}, []
    for number, labelled in enumerate(ARTICLES, start=1):
        decision = decider.decide(article(labelled), hits("belarus-prisoners"), RULES, labelled["published"])
        if decision.duplicate_of is not None:
            continue
        story = decision.story if decision.story is not None else number
        claimed, _, alerted[story] = claim(decision.hits, alerted.get(story, set()), story)
        alerts += [labelled["story"] for _, alert in claimed if alert]
        decider.record(number, decision.story, decision, labelled["published"])
    assert sorted(alerts) == ["pardon-16", "release-123", "release-52"]


def test_a_story_alerts_once_per_rule_and_says_why_not_again():
    claimed, follow_ups, alerted = claim(hits("a", "b") + [Hit("c", (), alert=False)], {"a"}, 12)
    assert [(h.rule, alert) for h, alert in claimed] == [("a", False), ("b", True), ("c", False)]
    assert follow_ups == [follow_up_reason("a", 12)] and alerted == {"a", "b"}
    assert follow_up_reason("a", 12) == "a: story 12 already alerted; this report is a follow-up"


# -- new, changed, due a revisit -------------------------------------------------------------------------

def item(guid: str, url: str, title: str = "t", published: datetime | None = None) -> FeedItem:
    return FeedItem("https://feed.example/rss", "feed", guid, url, title, "", published)


def stored(row_id: int, of: FeedItem, first_seen: datetime, page_checked: datetime | None = None,
           fingerprint: int | None = 5) -> StoredArticle:
    return StoredArticle(row_id, item_hash(of), fingerprint, first_seen, page_checked or first_seen)


def test_sort_items_tells_new_changed_known_and_old_apart():
    new, twice = item("urn:1", "https://a.example/1"), item("urn:1", "https://a.example/1?utm_source=x")
    same, edited = item("urn:2", "https://a.example/2"), item("urn:3", "https://a.example/3", title="edited")
    copy = item("urn:4", "https://b.example/4")
    old = item("urn:5", "https://a.example/5", published=NOW - timedelta(days=9))
    long_ago = NOW - timedelta(days=30)
    rows = {"urn:2": stored(2, same, long_ago), "urn:3": stored(3, item("urn:3", "https://a.example/3"), long_ago)}
    fresh, changed = sort_items([new, twice, same, edited, copy, old], {"urn:2", "urn:3", "urn:4"}, rows, NOW,
                                max_age=7 * 86400, within=2 * 86400, every=3 * 3600)
    assert fresh == [new]
    assert changed == [(edited, rows["urn:3"])]


def test_a_recent_article_is_due_a_revisit_when_its_page_was_not_looked_at_for_a_while():
    row = stored(1, item("urn:1", "https://a.example/1"), NOW - timedelta(hours=20), NOW - timedelta(hours=4))
    assert revisit_due(row, NOW, within=2 * 86400, every=3 * 3600)
    assert not revisit_due(row, NOW, within=2 * 86400, every=5 * 3600)  # looked at 4 h ago
    assert not revisit_due(row, NOW, within=12 * 3600, every=3 * 3600)  # no longer recent


@pytest.mark.parametrize(("fingerprint", "source", "unchanged"), [
    (5, "page", True), (6, "page", False), (6, "summary", True),
])
def test_text_unchanged(fingerprint, source, unchanged):
    row = stored(1, item("urn:1", "https://a.example/1"), NOW, fingerprint=5)
    assert text_unchanged(row, fingerprint, source) is unchanged
