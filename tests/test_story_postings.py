"""The story index's postings kept in rows and read on demand (migration 020): an index that reads a key's newest
entries only when an article carrying the key comes decides, adds and prunes as the whole index does; the store's
kept index read so decides as one rebuilt from the stored articles; a reader whose snapshot was taken again fails."""

from __future__ import annotations

from array import array
from datetime import timedelta
from itertools import accumulate

import pytest

from monitor.decide import stories, story_window
from monitor.decide.stories import StoryIndex
from monitor.store import Store
from monitor.store.indexes import _KeptPostings
from tests.helpers import ARTICLES, group
from tests.kept_index import CORPUS, StoryFeed, by_day, decisions, index_state, same_as_rebuilt


def _reader(parts: dict[str, bytes], asked: list[dict]):
    """Reads a snapshot's postings as the store's reader does, noting what it was asked for."""
    lengths = array("I")
    lengths.frombytes(parts["lengths"])
    entries, starts = memoryview(parts["postings"]).cast("I"), list(accumulate(lengths, initial=0))

    def read(wants: dict[int, tuple[int, int]]) -> dict[int, bytes]:
        asked.append(dict(wants))
        return {key: entries[starts[key] + 3 * first:starts[key] + 3 * end].tobytes()
                for key, (first, end) in wants.items()}
    return read


@pytest.mark.parametrize("scan", [stories._POSTING_SCAN, 4])  # 4: most keys' postings are read in part
@pytest.mark.parametrize("articles", [ARTICLES, CORPUS[:700]], ids=["labelled", "formulaic"])
def test_postings_read_on_demand_decide_as_the_whole_index(articles, scan, monkeypatch):
    monkeypatch.setattr(stories, "_POSTING_SCAN", scan)
    head, rest = articles[:len(articles) * 2 // 3], articles[len(articles) * 2 // 3:]
    _, whole = group(head)
    parts, asked = whole.snapshot(), []
    lazy = StoryIndex.from_snapshot({k: v for k, v in parts.items() if k != "postings"}, _reader(parts, asked))
    assert len(lazy) == len(whole)
    probes = articles[len(articles) // 2:]
    assert decisions(lazy, probes) == decisions(whole, probes)
    read = {key for wants in asked for key in wants}
    assert read and len(read) < len(whole._key_ids)  # only the keys the probes carry, each read once
    for key in read:
        spans = sorted(wants[key] for wants in asked if key in wants)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
    if scan < 300:
        assert any(first > 0 for wants in asked for first, _ in wants.values())  # newest entries only
    group(rest, lazy)
    group(rest, whole)
    assert decisions(lazy, probes) == decisions(whole, probes)
    later = max(a["published"] for a in articles)
    assert lazy.prune(later - timedelta(days=7), later - timedelta(days=60)) == whole.prune(
        later - timedelta(days=7), later - timedelta(days=60))
    assert index_state(lazy) == index_state(whole)
    again = StoryIndex.from_snapshot(lazy.snapshot())  # taken again from what it read: the same
    assert index_state(again) == index_state(whole)


def _twelve_days(store: Store, days: list[list[dict]]) -> StoryFeed:
    """The corpus's first twelve days stored as the pipeline stores them."""
    feed = StoryFeed(store)
    for article in (article for day in days[:12] for article in day):
        feed.add(article)
    return feed


@pytest.mark.parametrize("chunk", [_KeptPostings.CHUNK, 3])  # 3: a key's newest entries span rows
def test_the_kept_postings_read_on_demand_decide_as_a_rebuild(tmp_path, chunk, monkeypatch):
    monkeypatch.setattr(_KeptPostings, "CHUNK", chunk)
    monkeypatch.setattr(stories, "_POSTING_SCAN", 5)
    days = list(by_day(CORPUS).values())
    with Store.open(tmp_path / "monitor.db") as store:
        feed = _twelve_days(store, days)
        today = days[12]
        probes = days[13][:40]
        same_as_rebuilt(store, today[0]["published"], probes)  # rebuilt and kept
        for article in today:  # stored after it: loaded with them added
            feed.add(article)
        evening = today[-1]["published"]
        loaded = store.story_index(*story_window(evening))
        assert sum(loaded._unread)  # not read whole
        same_as_rebuilt(store, evening, probes)
        store.STORY_TAIL = 3  # taken again, from what was read and the rest of its postings
        same_as_rebuilt(store, evening, probes)
        assert not store.db.execute("SELECT count(*) FROM story_index_changes").fetchone()[0]
        assert store.db.execute("SELECT CAST(data AS INTEGER) FROM story_index WHERE part = 'upto'").fetchone()[0] \
            == store.db.execute("SELECT max(id) FROM articles").fetchone()[0]
        del store.STORY_TAIL
        same_as_rebuilt(store, evening, probes)


def test_a_reader_whose_snapshot_was_taken_again_fails(tmp_path):
    days = list(by_day(CORPUS).values())
    with Store.open(tmp_path / "monitor.db") as store:
        _twelve_days(store, days)
        now = days[12][0]["published"]
        store.story_index(*story_window(now))  # kept
        reading = store.story_index(*story_window(now))
        store.story_index(*story_window(now + timedelta(days=1)))  # another day's window: taken again
        with pytest.raises(ValueError, match="taken again"):
            decisions(reading, days[13][:40], now)
