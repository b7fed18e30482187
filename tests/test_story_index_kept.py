"""The story index kept in the store (migration 016): what a process loads gives the same story decisions as an
index rebuilt from the stored articles, whatever was written in between."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.decide import story_window
from monitor.decide.stories import StoryFeatures, StoryIndex, features
from monitor.models import Article, Evidence, FeedItem, Hit
from monitor.store import Store
from tests.helpers import ARTICLES, ROOT, database_before, group
from tests.kept_index import CORPUS, StoryFeed, by_day, decisions, index_state, rebuilt_index, same_as_rebuilt

# -- the snapshot itself (pure) ----------------------------------------------------------------------------

@pytest.mark.parametrize("articles", [ARTICLES, CORPUS[:700]], ids=["labelled", "formulaic"])
def test_a_snapshot_loads_as_the_index_it_was_taken_of(articles):
    """Loaded from its snapshot, an index decides every later article as the original does, goes on to add
    articles and prune as it would, and is taken again unchanged."""
    head, rest = articles[:len(articles) * 2 // 3], articles[len(articles) * 2 // 3:]
    _, original = group(head)
    loaded = StoryIndex.from_snapshot(original.snapshot())
    assert len(loaded) == len(original)
    assert decisions(loaded, articles) == decisions(original, articles)
    assert {r[0] for r in decisions(loaded, articles)} - {None}  # some do join
    assert index_state(loaded) == index_state(original)
    group(rest, loaded)
    group(rest, original)
    assert index_state(loaded) == index_state(original)
    later = max(a["published"] for a in articles)
    again = StoryIndex.from_snapshot(loaded.snapshot())
    assert again.prune(later - timedelta(days=7), later - timedelta(days=60)) == original.prune(
        later - timedelta(days=7), later - timedelta(days=60))
    assert index_state(again) == index_state(original)


def test_a_torn_snapshot_is_refused():
    _, index = group(ARTICLES)
    parts = index.snapshot()
    for name, cut in (("postings", parts["postings"][:-8]), ("story_fps", parts["story_fps"][:-8]),
                      ("keys", parts["keys"].rpartition(b"\n")[0])):
        torn = dict(parts, **{name: cut})
        with pytest.raises(ValueError):
            StoryIndex.from_snapshot(torn)
    with pytest.raises(ValueError):
        StoryIndex.from_snapshot({k: v for k, v in parts.items() if k != "meta"})


def test_leads_kept_do_not_depend_on_the_process():
    """A story's headline subjects (at most 24) are the first it saw, then new ones in sorted order: not the
    order of a set of strings, which changes with each process's hash seed."""
    script = ("import json,sys; sys.path.insert(0, sys.argv[1]); from tests.helpers import ARTICLES, group; "
              "_, i = group(ARTICLES * 3); "
              "print(json.dumps(sorted((s, sorted(v.leads)) for s, v in i._stories.items())))")
    runs = [subprocess.run([sys.executable, "-c", script, str(ROOT)], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2")]
    assert runs[0] == runs[1] and json.loads(runs[0])


# -- kept in the store ---------------------------------------------------------------------------------------

def _top(store: Store) -> int:
    return store.db.execute("SELECT max(id) FROM articles").fetchone()[0]


def _kept(store: Store) -> tuple[int, int]:
    """(the kept snapshot's last article id, changes noted since it was taken)."""
    upto = store.db.execute("SELECT CAST(data AS INTEGER) FROM story_index WHERE part = 'upto'").fetchone()[0]
    return upto, store.db.execute("SELECT count(*) FROM story_index_changes").fetchone()[0]


def test_the_story_index_kept_in_the_store_decides_as_a_rebuild(tmp_path):
    """After articles are stored, updated, deleted by hand or by retention, when a story becomes a release story
    with articles older than the window, once the snapshot is taken again, in a new process, on a new day."""
    days = list(by_day(CORPUS).values())
    with Store.open(tmp_path / "monitor.db") as store:
        feed = StoryFeed(store)
        for day in days[:12]:
            for article in day:
                feed.add(article)
        today = days[12]
        for article in today[:len(today) // 2]:
            feed.add(article)
        noon = today[len(today) // 2]["published"]
        evening = today[-1]["published"]
        # a story of nine days ago (before the window: not in the index while it is not a release story)
        since, releases = story_window(evening)
        nine_days = evening - timedelta(days=9)
        assert releases <= nine_days < since
        old_story = feed.add(dict(days[3][0], id="old-story"), nine_days, new_story=True)
        feed.add(dict(days[3][1], id="old-story-2"), nine_days + timedelta(hours=2), story=old_story)
        probes = days[13][:40]
        same_as_rebuilt(store, noon, probes)  # none kept yet: rebuilt and kept
        upto, _ = _kept(store)
        assert upto == _top(store)

        # articles stored after it: loaded with them added, not taken again
        for article in today[len(today) // 2:]:
            feed.add(article)
        for article in days[11][:5]:  # and articles without hits (retention drops them below)
            feed.add(dict(article, id=article["id"] + "-nohit"), today[-1]["published"] - timedelta(days=9),
                     hits=False)
        same_as_rebuilt(store, evening, probes)
        assert _kept(store) == (upto, 0)

        # retention: texts and articles without hits go; the kept index stands
        store.prune(text_before=evening, articles_before=evening - timedelta(days=8), messages_before=None)
        same_as_rebuilt(store, evening, probes)
        assert _kept(store) == (upto, 0)

        # a publisher changed an article of the window: noted, rebuilt
        changed = today[1]
        other = days[10][7]
        feats = features(other["title"], other["text"], other["published"])
        store.update_article(feed.ids[changed["id"]], Article(
            FeedItem("https://f.example/feed", "F", "x", "https://f.example/x", other["title"], "", None),
            other["title"], other["text"], "page"), [Hit("extra-rule", (Evidence("text", "x", 0, 1),), False)],
            evening, fingerprint=feats.fingerprint, features=feats.to_dict(), facts=None, item_hash=None)
        assert _kept(store)[1] == 1
        same_as_rebuilt(store, evening, probes)
        upto, noted = _kept(store)
        assert (upto, noted) == (_top(store), 0)

        # an article with hits deleted by hand
        store.db.execute("DELETE FROM hits WHERE article_id = ?", [feed.ids[today[5]["id"]]])
        store.db.execute("DELETE FROM articles WHERE id = ?", [feed.ids[today[5]["id"]]])
        assert _kept(store)[1] == 1
        same_as_rebuilt(store, evening, probes)
        assert _kept(store) == (_top(store), 0)

        # the story of nine days ago gets a release report: its older articles come into the window
        upto = _kept(store)[0]
        assert old_story not in store.story_index(since, releases)._stories
        feed.add(dict(days[3][2], id="release"), evening, story=old_story, facts={"number": 12, "names": []})
        assert store._story_grew_back(upto, since, releases)
        loaded = same_as_rebuilt(store, evening, probes)
        assert loaded._stories[old_story].size == 3
        assert _kept(store)[0] == _top(store)  # rebuilt and kept

        # enough came after it: taken again
        store.STORY_TAIL = 1
        feed.add(days[12][0] | {"id": "late"}, evening)
        same_as_rebuilt(store, evening, probes)
        assert _kept(store) == (_top(store), 0)
        top = _top(store)

    # another process, from the kept snapshot (its own hash seed): the same decisions as a rebuild here
    script = ("import json, sys; from datetime import datetime; from pathlib import Path\n"
              "sys.path.insert(0, sys.argv[1])\n"
              "from monitor.decide import story_window; from monitor.store import Store\n"
              "from tests.kept_index import CORPUS, by_day, decisions\n"
              "now = datetime.fromisoformat(sys.argv[3])\n"
              "with Store.open(Path(sys.argv[2])) as store:\n"
              "    statements = []\n"
              "    store.db.conn.set_trace_callback(statements.append)\n"
              "    index = store.story_index(*story_window(now))\n"
              "print(json.dumps([statements, decisions(index, list(by_day(CORPUS).values())[13][:40], now)]))")
    out = subprocess.run([sys.executable, "-c", script, str(ROOT), str(tmp_path / "monitor.db"), evening.isoformat()],
                         capture_output=True, text=True, check=True).stdout
    statements, decided = json.loads(out)
    assert [s for s in statements if f"h.article_id > {top}" in s]  # loaded: only articles after the snapshot read
    assert not [s for s in statements if "FROM articles a JOIN hits" in s or "INSERT" in s]  # not rebuilt, nor re-taken
    with Store.open(tmp_path / "monitor.db") as store:
        rebuilt = StoryIndex.from_rows((m.story, StoryFeatures.from_dict(m.features), m.rules, m.first_seen)
                                       for m in store.story_rows(*story_window(evening)))
        assert [list(d) for d in decisions(rebuilt, probes, evening)] == decided

        # the next day: another window, rebuilt and kept for it
        tomorrow = evening + timedelta(days=1)
        feed = StoryFeed(store)
        feed.n = 10_000
        for article in days[13][40:60]:
            feed.add(article, tomorrow)
        same_as_rebuilt(store, tomorrow, days[14][:40])
        assert store.db.execute("SELECT data FROM story_index WHERE part = 'window'").fetchone()[0].decode() == \
            " ".join(t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in story_window(tomorrow))


def test_a_store_without_stories_keeps_an_empty_index(tmp_path):
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with Store.open(tmp_path / "monitor.db") as store:
        assert len(store.story_index(*story_window(now))) == 0
        assert len(store.story_index(*story_window(now))) == 0
        assert _kept(store) == (0, 0)


# -- every kind of write, one at a time, on a store with a kept index ----------------------------------------

def _store_with_a_release_story_outside(path: Path) -> tuple[datetime, list[dict], dict]:
    """Twelve corpus days, then `evening` of the thirteenth; a story whose first report is 70 days old (before
    the window: not a release story yet) and whose second, with hits, is 9 days old (inside the release
    window only); the index kept. Returns evening, probes and the story's article ids."""
    days = list(by_day(CORPUS).values())
    with Store.open(path) as store:
        feed = StoryFeed(store)
        for day in days[:13]:
            for article in day:
                feed.add(article)
        evening = days[12][-1]["published"]
        first = feed.add(dict(days[2][0], id="first-report"), evening - timedelta(days=70), hits=False)
        second = feed.add(dict(days[2][1], id="second-report"), evening - timedelta(days=9), story=first)
        lone = feed.add(dict(days[2][3], id="lone"), evening - timedelta(days=9), new_story=True)
        feed.add(dict(days[2][4], id="newest"), evening, hits=False)  # the newest article has no hits
        loaded = store.story_index(*story_window(evening))
        assert first not in loaded._stories and lone not in loaded._stories
        assert _kept(store) == (_top(store), 0)
    return evening, days[13][:40], {"first": first, "second": second, "lone": lone,
                                    "window": feed.ids[days[12][3]["id"]]}


def _release(store: Store, article_id: int) -> None:
    store.db.execute("UPDATE articles SET release_facts = ? WHERE id = ?",
                     [json.dumps({"number": 5, "names": []}), article_id])


def _reuse_the_top_id_for_a_release_report(store: Store, ids: dict) -> None:
    """The newest article (without hits) deleted, then a release report of the old story stored: SQLite gives
    it that id."""
    top = _top(store)
    store.db.execute("DELETE FROM articles WHERE id = ?", [top])
    assert not store.db.execute("SELECT count(*) FROM story_index_changes").fetchone()[0]
    item = FeedItem("https://f.example/feed", "F", "reused", "https://f.example/reused", "Freed", "", None)
    reused = store.add_article(Article(item, "Freed", "Five people were freed.", "page"), "reused", "reused", [],
                               datetime.fromisoformat(store.db.execute(
                                   "SELECT max(first_seen) FROM articles").fetchone()[0]),
                               story=ids["first"], facts={"number": 5, "names": []})
    assert reused == top


WRITES = {  # name: (the write, whether the kept index no longer holds and is rebuilt)
    "release facts given to a report older than the window": (lambda s, ids: _release(s, ids["first"]), True),
    "release facts taken from that report": (lambda s, ids: s.db.execute(
        "UPDATE articles SET release_facts = NULL WHERE id = ?", [ids["first"]]), True),
    "a release report stored under a reused id": (_reuse_the_top_id_for_a_release_report, True),
    "a hit's rule renamed": (lambda s, ids: s.db.execute(
        "UPDATE hits SET rule = 'renamed' WHERE article_id = ?", [ids["window"]]), True),
    "a hit moved to an article without hits": (lambda s, ids: s.db.execute(
        "UPDATE hits SET article_id = ? WHERE article_id = ?", [ids["first"], ids["window"]]), True),
    "an article's first date moved out of the window": (lambda s, ids: s.db.execute(
        "UPDATE articles SET first_seen = '2020-01-01T00:00:00Z' WHERE id = ?", [ids["window"]]), True),
    "an article moved to another story": (lambda s, ids: s.db.execute(
        "UPDATE articles SET story = ? WHERE id = ?", [str(ids["lone"]), ids["window"]]), True),
    "a change older than the window": (lambda s, ids: s.db.execute(
        "UPDATE articles SET story_features = NULL WHERE id = ?", [ids["first"]]), False),
    "hits marked as sent in a digest": (lambda s, ids: s.db.execute(
        "UPDATE hits SET digest_message = 'm1', alert_message = 'm2'"), False),
    "retention": (lambda s, ids: s.prune(text_before=_EVENING, articles_before=_EVENING - timedelta(days=8),
                                         messages_before=_EVENING), False),
    "a page checked again": (lambda s, ids: s.mark_checked(ids["window"], "h", _EVENING), False),
}
_EVENING: datetime  # set by the template fixture


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, list[dict], dict]:
    global _EVENING
    path = tmp_path_factory.mktemp("kept") / "monitor.db"
    _EVENING, probes, ids = _store_with_a_release_story_outside(path)
    return path, probes, ids


@pytest.mark.parametrize("write", list(WRITES))
def test_each_kind_of_write_is_noted_when_it_touches_the_window(template, tmp_path, write):
    """A write that changes what a rebuild would hold makes the next load rebuild (and keep) the index; one
    that does not leaves the kept index standing. Either way the loaded index decides as a rebuild."""
    path, probes, ids = template
    copy = tmp_path / "monitor.db"
    copy.write_bytes(path.read_bytes())
    change, rebuilds = WRITES[write]
    with Store.open(copy) as store:
        if write == "release facts taken from that report":  # given first, and the index kept with them
            _release(store, ids["first"])
            store.story_index(*story_window(_EVENING))
        upto = _kept(store)[0]
        before = index_state(rebuilt_index(store, _EVENING))
        with store.transaction():
            change(store, ids)
        after = index_state(rebuilt_index(store, _EVENING))
        assert (before != after) == rebuilds  # the write does change what a rebuild holds (or does not)
        same_as_rebuilt(store, _EVENING, probes)
        if rebuilds:
            assert store.db.execute("SELECT data FROM story_index WHERE part = 'upto'").fetchone()[0] is not None
            assert _kept(store) == (_top(store), 0)
            assert store.story_index(*story_window(_EVENING))  # kept again: loads without a rebuild
            assert _kept(store) == (_top(store), 0)
        else:
            assert _kept(store)[0] == upto


def test_an_older_store_migrated_keeps_an_index_that_decides_as_a_rebuild(tmp_path):
    """A store written before migration 016 (no kept story index, no triggers): the first load rebuilds and
    keeps it, later loads take it with the articles stored since, and a change is noted."""
    path = tmp_path / "old.db"
    db = database_before(path, "016_story_index")
    days = list(by_day(CORPUS).values())
    old = Store(db)
    feed = StoryFeed(old)
    for day in days[:10]:
        for article in day:
            feed.add(article)
    assert "story_index" not in db.table_names()
    db.conn.close()
    now = days[9][-1]["published"]
    with Store.open(path) as store:
        assert "016_story_index" in {r["name"] for r in store.db["_migrations"].rows}
        same_as_rebuilt(store, now, days[10][:40])
        assert _kept(store) == (_top(store), 0)
        live = StoryFeed(store)
        live.live, live.n = feed.live, feed.n
        for article in days[10][:30]:
            live.add(article, now)
        same_as_rebuilt(store, now, days[11][:40])
        assert _kept(store)[1] == 0 and _kept(store)[0] < _top(store)  # loaded with the articles after it
        store.db.execute("DELETE FROM hits WHERE article_id = ?", [feed.ids[days[9][0]["id"]]])
        assert _kept(store)[1] == 1
        same_as_rebuilt(store, now, days[11][:40])
        assert _kept(store) == (_top(store), 0)
