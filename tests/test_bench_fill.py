"""bench/e2e.py's large store: the fast fill (articles beyond BASE copied in SQL from the first BASE) and a
fill resumed after it was cut off write the same rows, hits, stories and search index as Store.add_article
for every article (the spec, kept as the fill's first part). With BASE a multiple of the text variants, the
copies are exactly the articles add_article would have written."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import e2e
from monitor.search import searchable

TEXTS = [
    "The river authority in Grodno opened two new locks on Tuesday and said barge traffic would double by "
    "spring. Minsk released 14 political prisoners after a pardon, Viasna said.",
    "A bakery cooperative in the north of the region reported its best harvest year; rye prices fell and the "
    "cooperative hired seasonal workers from three villages.",
    "Lukashenko met the visiting delegation in Minsk to discuss sanctions and the border with Lithuania; the "
    "talks lasted four hours, officials said afterwards.",
    "The city library extended its opening hours for exam season and added a reading room for students who "
    "need a quiet place to work in the evenings.",
]
N, BASE = 61, 24  # 4 texts make 12 variants; 61 articles over 30 days are seen at uneven seconds
CUT_BASE, CUT_COPIES = 10, 40


class _Fixed(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def _dump(path: Path) -> dict:
    conn = sqlite3.connect(path)
    queries = {"articles": "SELECT * FROM articles",
               "hits": "SELECT article_id, rule, evidence, snippet, why, alert, first_seen, alert_message, "
                       "digest_message, words FROM hits",
               "stories": "SELECT * FROM stories", "suppressions": "SELECT * FROM suppressions"}
    out = {name: sorted(map(repr, conn.execute(sql))) for name, sql in queries.items()}
    for word in ("minsk", "lukashenko", "bakery", "report", "stored", "grodno", "45"):
        out[f"search {word}"] = conn.execute("SELECT rowid FROM article_search WHERE article_search MATCH ? "
                                             "ORDER BY rowid", [word]).fetchall()
    conn.execute("INSERT INTO article_search (article_search, rank) VALUES ('integrity-check', 0)")
    conn.close()
    return out


def test_copied_and_resumed_fills_write_what_add_article_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(e2e, "datetime", _Fixed)
    slow, fast = tmp_path / "slow.db", tmp_path / "fast.db"
    monkeypatch.setattr(e2e, "BASE", N)
    e2e.fill_store(slow, N, TEXTS)
    monkeypatch.setattr(e2e, "BASE", BASE)
    e2e.fill_store(fast, N, TEXTS)
    expected = _dump(slow)
    assert len(expected["articles"]) == N
    assert expected["hits"] and expected["search minsk"]  # the rules and the index have something to say
    assert any("'seeded'" in hit for hit in expected["hits"])  # hits older than a day count as digested
    assert _dump(fast) == expected
    for cut in (CUT_BASE, CUT_COPIES):  # cut off in either part: what a killed fill leaves, then resumed
        resumed = tmp_path / f"resumed-{cut}.db"
        e2e.fill_store(resumed, N, TEXTS)
        conn = sqlite3.connect(resumed)
        conn.create_function("news_monitor_searchable", -1, searchable)
        for table, column in (("hits", "article_id"), ("stories", "CAST(id AS INTEGER)"), ("articles", "id")):
            conn.execute(f"DELETE FROM {table} WHERE {column} > ?", [cut])
        conn.execute("UPDATE hits SET digest_message = NULL")
        conn.commit()
        conn.close()
        e2e.fill_store(resumed, N, TEXTS)
        assert _dump(resumed) == expected


@pytest.mark.parametrize("n", [10, BASE + 5])
def test_fill_sizes(tmp_path, monkeypatch, n):
    monkeypatch.setattr(e2e, "BASE", BASE)
    e2e.fill_store(tmp_path / "s.db", n, TEXTS)
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("SELECT count(*), min(id), max(id), count(DISTINCT guid_key) FROM articles").fetchone() \
        == (n, 1, n, n)
    assert conn.execute("SELECT count(*) FROM stories").fetchone() == (n,)
