"""The digest's read and placement, made cheaper per item for a day of ~15,000 items at 1,000,000 stored articles
(issue 13), give what the code they replaced gave: the store's message items (rows sorted in Python instead of
by ORDER BY, story facts parsed once per distinct text, items made by MessageItem.of instead of the frozen
class's __init__, a digest's items read without their sentences and given them for the stories it shows only),
the stories a message places (tuples, a one-item
one-rule fast path, rule words folded once per distinct words list), and the collector paused around a digest's
build comes back as it was. The replaced code is kept below as the spec. Figures: README "Performance"."""

from __future__ import annotations

import dataclasses
import gc
import json
import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from monitor.digest import Layout, _best, _raw_sources, _stories, build_message
from monitor.models import Article, FeedItem, Hit, MessageItem
from monitor.pipeline import collector_paused
from monitor.store import Store
from monitor.store.common import _ITEM_COLUMNS, SOURCES_LISTED, _chunks
from tests.message_builders import LAYOUT, NOW, day, item, release

START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
RULES = ("belarus-prisoners", "coale", "sanctions", "zapad")
ORDER = {rule: n for n, rule in enumerate(RULES)}
FACTS = [{"number": 12, "names": ["Ihar Lapatsin"], "date": "2026-11-19", "language": "en", "destination": None,
          "broker": None},
         {"number": None, "names": [], "date": None, "language": "ru", "destination": "Vilnius", "broker": None}]


# -- the replaced code (store.py and digest.py before issue 13's digest work), kept as the spec ----------------

def replaced_message_items(store: Store, where: str, params: list) -> tuple[list[MessageItem], list[int]]:
    rows = store.db.execute(
        f"SELECT h.id, h.rule, h.snippet, h.alert_message, h.words, h.why, {_ITEM_COLUMNS}, a.release_facts "
        f"FROM hits h JOIN articles a ON a.id = h.article_id WHERE {where} "
        "ORDER BY a.first_seen, a.id, h.rule", params).fetchall()
    by_article: dict[int, list[tuple]] = {}
    for row in rows:
        by_article.setdefault(row[6], []).append(row)
    parsed: dict[str | None, tuple[str, ...]] = {}
    unique: dict[str | None, tuple[str, ...]] = {}

    def words(stored: str | None) -> tuple[str, ...]:
        found = parsed.get(stored)
        if found is None:
            found = parsed[stored] = tuple(json.loads(stored or "[]"))
        return found

    read: dict[str, list[tuple]] = {}
    for group in by_article.values():
        first = group[0]
        if first[13]:
            read.setdefault(first[13], []).append(
                (first[10], first[9] if first[8] is None else first[8], first[16], first[15]))
    sources, facts, announced, counts = replaced_story_context(store, set(read), read)
    items = []
    for article_id, group in by_article.items():
        (_, rule, snippet, alert_message, stored_words, why, _, title, canonical_url, url, feed_name, published,
         first_seen, stored_story, text_source, outlet_url, _) = group[0]
        story = stored_story or str(article_id)
        if len(group) == 1:
            matched = unique.get(stored_words)
            if matched is None:
                matched = unique[stored_words] = tuple(dict.fromkeys(words(stored_words)))
            reasons = ((rule, snippet or "", words(stored_words)),)
            rules, alerted, why = (rule,), bool(alert_message), f"{rule}: {why}" if why else ""
            alert_messages = {alert_message}
        else:
            reasons = tuple((g[1], g[2] or "", words(g[4])) for g in group)
            matched = tuple(dict.fromkeys(w for reason in reasons for w in reason[2]))
            rules, alerted = tuple(sorted({g[1] for g in group})), any(g[3] for g in group)
            why = "\n".join(f"{g[1]}: {g[5]}" for g in group if g[5])
            alert_messages = {g[3] for g in group}
        told = announced.get(story)
        items.append(MessageItem(
            article_id=article_id, title=title or "(untitled)", url=canonical_url or url or "",
            feed=feed_name or "", published=published, first_seen=first_seen, rules=rules, story=story,
            snippet=snippet or "", text_source=text_source or "page", alerted=alerted, matched=matched, why=why,
            sources=sources.get(story, ()), facts=facts.get(story, ()), sources_count=counts.get(story, 0),
            outlet_url=outlet_url, announced=told, reasons=reasons,
            followup=told is not None and told not in alert_messages))
    return items, [row[0] for row in rows]


def replaced_story_context(store: Store, stories: set[str], read: Mapping[str, list[tuple]]) -> tuple:
    reports: dict[str, list] = {}
    copies: dict[str, list] = {}
    announced: dict[str, str | None] = {}
    for chunk in _chunks(sorted(stories)):
        marks = ", ".join("?" * len(chunk))
        members = dict(store.db.execute(f"SELECT story, count(*) FROM articles INDEXED BY idx_articles_story "
                                        f"WHERE story IN ({marks}) GROUP BY story", chunk))
        others = []
        for story in chunk:
            if story in read and len(read[story]) == members.get(story):
                reports[story] = read[story]
            else:
                others.append(story)
        for part in _chunks(others) if others else ():
            for story, *row in store.db.execute(
                    "SELECT story, feed_name, coalesce(canonical_url, url), release_facts, outlet_url FROM "
                    f"articles WHERE story IN ({', '.join('?' * len(part))}) ORDER BY story, first_seen, id", part):
                reports.setdefault(story, []).append(row)
        for story, *row in store.db.execute(
                "SELECT a.story, s.feed_name, s.url, s.outlet_url FROM sources s JOIN articles a ON a.id = "
                f"s.article_id WHERE a.story IN ({marks}) ORDER BY a.story, s.first_seen, s.id", chunk):
            copies.setdefault(story, []).append(row)
        announced.update(store.db.execute(f"SELECT id, announced FROM stories WHERE id IN ({marks}) "
                                          "AND announced IS NOT NULL", chunk))
    sources: dict[str, tuple] = {}
    facts: dict[str, tuple] = {}
    counts: dict[str, int] = {}
    for story in reports.keys() | copies.keys():
        rows, copied = reports.get(story, ()), copies.get(story, ())
        counts[story] = len(rows) + len(copied)
        listed = [(feed or "", url or "", outlet) for feed, url, _, outlet in rows[:SOURCES_LISTED]]
        listed += [(feed or "", url or "", outlet) for feed, url, outlet in copied[:SOURCES_LISTED - len(listed)]]
        sources[story] = tuple(listed)
        stored_facts = tuple(json.loads(stored) for _, _, stored, _ in rows if stored)
        if stored_facts:
            facts[story] = stored_facts
    return sources, facts, announced, counts


def replaced_stories(items: Sequence[MessageItem], order: dict[str, int]) -> list[tuple]:
    """(story, group, rules, topic, lead, first_seen, sources_total, release, followup, announced) per story."""
    groups: dict[str, list[MessageItem]] = {}
    for i in items:
        groups.setdefault(i.story, []).append(i)
    rank = {}
    stories = []
    for story, group in groups.items():
        names = group[0].rules if len(group) == 1 else {r for i in group for r in i.rules}
        for r in names:
            if r not in rank:
                rank[r] = (order.get(r, len(order)), r)
        rules = sorted(names, key=rank.__getitem__)
        topic = rules[0] if len(rules) == 1 else replaced_strongest(rules, group, order) if rules else ""
        lead = group[0] if len(group) == 1 else _best(group, topic)
        urls = {lead.url, *(src[1] for src in _raw_sources(lead, group))}
        first_seen = lead.first_seen if len(group) == 1 else min(i.first_seen for i in group)
        stories.append((story, group, rules, topic, lead, first_seen, max(len(urls), lead.sources_count),
                        bool(lead.facts), all(i.followup for i in group), lead.announced))
    return stories


def replaced_strongest(rules: Sequence[str], group: Sequence[MessageItem], order: dict[str, int]) -> str:
    words: dict[str, set[str]] = {}
    for i in group:
        for r, _, ws in i.reasons:
            words.setdefault(r, set()).update(w.lower() for w in ws)
    titles = [i.title.lower() for i in group]

    def whole(word: str, title: str) -> bool:  # the words of `word`, whatever between them, as whole words
        parts = re.findall(r"\w+", word)
        return bool(parts) and re.search(r"(?<!\w)" + r"\W+".join(map(re.escape, parts)) + r"(?!\w)", title) is not None

    def strength(rule: str) -> tuple:
        found = words.get(rule, ())
        in_title = sum(1 for w in found for title in titles if whole(w, title))
        return (-in_title, -len(found), order.get(rule, len(order)), rule)
    return min(rules, key=strength)


# -- a store with every shape a day's digest meets -------------------------------------------------------------

def fill(store: Store, seed: int, articles: int = 240) -> list[str]:
    """Articles over a day and a half: many first seen at the same second (ties broken by id), stories of one to
    six articles (some without a hit), one to three rules each, alert hits, release facts (repeated and
    distinct texts), copies, canonical URLs, outlets, missing titles and snippets. A first digest is saved
    halfway, so later articles of its stories are follow-ups; alerts at three quarters announce stories with
    the articles they carry. Returns the stories."""
    rng = random.Random(seed)
    stories: list[int] = []
    for n in range(articles):
        if n == articles // 2:
            items, hit_ids = store.pending_items("digest")
            message = build_message("digest", items, NOW, layout=LAYOUT)
            store.save_message(message, hit_ids, ["file"])
        if n == articles * 3 // 4:  # alerts, one per story, as the pipeline queues them: the stories they announce
            items, hit_ids = store.pending_items("alert")  # are no follow-ups to the articles they carried
            ids = iter(hit_ids)  # one hit id per rule of each item, item by item
            per_item = [(i, [next(ids) for _ in i.rules]) for i in items]
            for story in dict.fromkeys(i.story for i in items):
                group = [(i, h) for i, h in per_item if i.story == story]
                store.save_message(build_message("alert", [i for i, _ in group], NOW, layout=LAYOUT),
                                   [h for _, hs in group for h in hs], ["file"])
        seen = START + timedelta(minutes=7 * (n // 3))  # three articles a time
        story = rng.choice(stories) if stories and rng.random() < 0.45 else None
        outlet = rng.choice([None, f"https://outlet{n % 5}.example/"])
        feed_item = FeedItem(f"https://wire{n % 4}.example/feed", f"Wire {n % 4}", f"g{n}",
                             f"https://wire{n % 4}.example/a/{n}", f"Report {n}", "",
                             seen - timedelta(minutes=rng.randrange(90)) if rng.random() < 0.8 else None,
                             source_name="Outlet" if outlet else None, source_url=outlet)
        title = "" if rng.random() < 0.05 else f"Report {n}: Viasna says activist jailed, Coale in Minsk"
        article = Article(item=feed_item, title=title, text=f"Text of report {n}.", text_source=rng.choice(
            ["page", "summary"]), canonical_url=f"https://canon.example/{n}" if rng.random() < 0.3 else None)
        hits = [Hit(rule, (), rng.random() < 0.2, snippet="" if rng.random() < 0.1 else f"Sentence {n} of {rule}.",
                    why=rng.choice(["", f"{rule} matched {n}"]),
                    words=tuple(rng.sample(["Viasna", "activist", "Coale", "sanctions", "Zapad", "Minsk"],
                                           rng.randrange(0, 4))))
                for rule in rng.sample(RULES, rng.choice([0, 1, 1, 1, 2, 3]))]
        facts = rng.choice([None, None, None, FACTS[0], FACTS[1], {**FACTS[0], "number": n}])
        stored = store.add_article(article, f"g{n}", f"u{n}", hits, seen, story=story, facts=facts)
        stories.append(stored if story is None else story)
        for k in range(rng.choice([0, 0, 0, 1, 3])):  # copies of it from other outlets
            copy = FeedItem("https://copies.example/feed", f"Copier {k}", f"c{n}-{k}", f"https://copies.example/{n}/{k}",
                            f"Report {n}", "", seen, source_url=rng.choice([None, "https://copied.example/"]))
            store.add_source(stored, Article(item=copy, title=copy.title, text="", text_source="summary"),
                             f"c{n}-{k}", f"cu{n}-{k}", seen + timedelta(minutes=k), "copy")
    return sorted({str(s) for s in stories})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_message_items_are_what_the_replaced_read_gave(tmp_path, seed):
    with Store.open(tmp_path / "monitor.db") as store:
        stories = fill(store, seed)
        digest_items = store.pending_items("digest")
        assert digest_items[0], "the second half of the day is pending"
        assert any(i.followup for i in digest_items[0]) and any(i.facts for i in digest_items[0])
        assert any(i.announced and not i.followup for i in digest_items[0])  # announced by its own alert
        assert any(len(i.rules) > 1 for i in digest_items[0]) and any(i.sources_count > 2 for i in digest_items[0])
        assert digest_items == replaced_message_items(store, "h.digest_message IS NULL ", [])
        assert store.pending_items("alert") == replaced_message_items(
            store, "h.alert_message IS NULL AND h.alert = 1", [])
        for story in stories:
            for alerting in (True, False):
                assert store.story_items(story, alerting) == replaced_message_items(
                    store, "a.story = ?" + (" AND h.alert = 1" if alerting else ""), [story])[0]


def test_items_made_without_init_are_the_items_init_makes(tmp_path):
    """MessageItem.of (the store's items) gives what MessageItem(**fields) gives: every field in its order, equal
    and shown alike, still frozen; a missing or unknown field is refused as __init__ refuses it."""
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store, 4)
        items, _ = store.pending_items("digest")
    assert items
    fields = list(MessageItem.__dataclass_fields__)
    for made in items:
        built = MessageItem(**{name: getattr(made, name) for name in fields})
        assert list(vars(made)) == fields and vars(made) == vars(built)
        assert type(made) is MessageItem and made == built and repr(made) == repr(built)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.title = "changed"  # type: ignore[misc]
    values = {name: getattr(items[0], name) for name in fields}
    del values["followup"]
    with pytest.raises(TypeError):
        MessageItem(**values, extra=1)
    for wrong in (values, {**values, "followup": False, "extra": 1}):
        with pytest.raises(TypeError, match="needs every field"):
            MessageItem.of(**wrong)


def test_identical_stored_facts_are_read_as_equal_values(tmp_path):
    """Facts parsed once per distinct text: a story whose reports repeat their facts gives each report's facts,
    equal to what parsing each gave."""
    with Store.open(tmp_path / "monitor.db") as store:
        for n in range(3):
            feed_item = FeedItem("https://wire.example/feed", "Wire", f"g{n}", f"https://wire.example/{n}",
                                 f"Release {n}", "", START)
            store.add_article(Article(item=feed_item, title=f"Release {n}", text="", text_source="page"), f"g{n}",
                              f"u{n}", [Hit("belarus-prisoners", (), False)], START + timedelta(minutes=n), story=7,
                              facts=FACTS[0])
        items, _ = store.pending_items("digest")
        assert [i.facts for i in items] == [(FACTS[0],) * 3] * 3
        assert items == replaced_message_items(store, "h.digest_message IS NULL", [])[0]


def test_a_saved_digest_announces_its_stories_as_one_statement_a_story_did(tmp_path):
    """save_message marks a few hundred stories a statement instead of one each: every story of the message that
    no message announced yet is announced by it, the others keep their first announcement, nothing else moves
    (the replaced statement: `UPDATE stories SET announced = coalesce(announced, ?) WHERE id = ?` per story)."""
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store, 5, articles=1800)  # more stories than one statement takes
        before = dict(store.db.execute("SELECT id, announced FROM stories").fetchall())
        items, hit_ids = store.pending_items("digest")
        message = build_message("digest", items, NOW, layout=LAYOUT)
        store.save_message(message, hit_ids, ["file"])
        after = dict(store.db.execute("SELECT id, announced FROM stories").fetchall())
    carried = {i.story for i in items}
    assert len(carried) > 500 and any(before[s] for s in carried) and any(not before[s] for s in carried)
    assert after == {s: (before[s] or message.id) if s in carried else before[s] for s in before}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_items_read_without_sentences_are_completed_as_the_full_read_gives_them(tmp_path, seed):
    """pending_items(sentences=False) leaves out only each hit's sentence and why: with_sentences gives the items
    the full read (the replaced one above) gives, and placing and counting the stories needs neither."""
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store, seed)
        for kind, where in (("digest", "h.digest_message IS NULL"),
                            ("alert", "h.alert_message IS NULL AND h.alert = 1")):
            full, hit_ids = replaced_message_items(store, where, [])
            narrow, narrow_ids = store.pending_items(kind, sentences=False)
            assert narrow_ids == hit_ids and len(narrow) == len(full) > 0
            assert any(i.snippet for i in full) and (kind == "alert" or any("\n" in i.why for i in full))
            assert not any(i.snippet or i.why or any(t for _, t, _ in i.reasons) for i in narrow)
            assert store.with_sentences(narrow) == full
            assert store.with_sentences([]) == []
            placed = [(s.story, s.rules, s.topic, s.lead.article_id, s.first_seen, s.sources_total, s.release,
                       s.followup, s.announced) for s in _stories(narrow, ORDER)]
            assert placed == [(s[0], s[2], s[3], s[4].article_id, *s[5:]) for s in replaced_stories(full, ORDER)]


@pytest.mark.parametrize("per_topic", [1, 3, 15])
def test_a_digest_completing_its_shown_stories_is_the_digest_of_the_full_items(tmp_path, per_topic):
    """A digest built from the items without sentences, completed for the stories it shows, is the one the full
    items give: JSON, text and HTML (stories shown and not, follow-ups, releases, alerts, copies, ties); its
    items are the same count of the same stories (what saving and the logs read of them)."""
    layout = Layout(zone=LAYOUT.zone, stories_per_topic=per_topic, sources_per_story=3,
                    descriptions=LAYOUT.descriptions)
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store, 6, articles=300)
        full, _ = replaced_message_items(store, "h.digest_message IS NULL", [])
        narrow, _ = store.pending_items("digest", sentences=False)
        asked: list[int] = []

        def complete(items):
            asked.append(len(items))
            return store.with_sentences(items)
        built = build_message("digest", narrow, NOW, layout=layout, complete=complete)
        spec = build_message("digest", full, NOW, layout=layout)
    assert 0 < asked[0] < len(full) and built.data["counts"]["stories_listed"] < built.data["counts"]["stories"]
    assert any(i["snippet"] for i in built.data["items"]) and built.data["replies_to"]

    def without_id(message):
        return {**message.data, "id": ""}, message.text.replace(message.id, ""), message.html.replace(message.id, "")
    assert without_id(built) == without_id(spec)
    assert built.subject == spec.subject and built.kind == spec.kind
    assert [i.story for i in built.items] == [i.story for i in spec.items]


def stories_of(items):
    return [tuple(s) for s in _stories(items, ORDER)]


def test_stories_are_placed_as_the_replaced_code_placed_them(tmp_path):
    """Stories made from a real store's items (follow-ups, facts, copies, several rules) and from the message
    builders' days (releases, one story under several rules, a story of many reports)."""
    with Store.open(tmp_path / "monitor.db") as store:
        fill(store, 4, articles=300)
        stored = store.pending_items("digest")[0]
    days = [stored, day(), day(60), [item(1, "coale", story="s"), item(2, "zapad", story="s"),
                                     item(3, "coale", rules=("coale", "zapad"), story="s")],
            [release(5, 12), release(6, 3, story="5"), item(7, "sanctions", rules=("zapad", "sanctions"))]]
    for items in days:
        assert stories_of(items) == [tuple(s) for s in replaced_stories(items, ORDER)]


def test_a_story_of_one_item_and_several_rules_is_weighed_as_before():
    """Rule words folded once per distinct words list (the store shares one tuple per stored words list): the
    same tuple under different stories and rules weighs as it did."""
    shared = ("Viasna", "activist")
    items = [item(n, "belarus-prisoners", rules=("belarus-prisoners", "coale"), title=title,
                  reasons=(("belarus-prisoners", "s", shared), ("coale", "s", shared if n % 2 else ("John Coale",))))
             for n, title in enumerate(["Viasna: activist jailed", "John Coale in Minsk", "John Coale in Minsk",
                                        "ACTIVIST and JOHN COALE"])]
    assert stories_of(items) == [tuple(s) for s in replaced_stories(items, ORDER)]
    # the shared words tie (rule order decides); "John Coale" in the headline wins for coale
    assert [s[3] for s in stories_of(items)] == ["belarus-prisoners", "belarus-prisoners", "coale",
                                                 "belarus-prisoners"]


def test_the_collector_is_paused_for_the_build_and_comes_back_as_it_was():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("a failed build")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
