"""A store of release reports for the read-query tests (START, REPORTS, fill) and the query plan of what a read
runs (plans)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.models import Article, FeedItem, Hit
from monitor.store import Store

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# (story, release facts or None), one article each, in the order stored (a day apart)
REPORTS = [
    (1, {"number": 12, "names": ["Ihar Lapatsin", "Volha Ramanchuk"], "date": "2026-02-27", "language": "en"}),
    (2, {"number": None, "names": ["Ihar Lapatsin", "Ihar Lapacin"], "date": None, "language": "en"}),  # one person
    (3, {"number": 14, "names": [], "date": "2026-03-02", "language": "en"}),
    (3, {"number": 15, "names": [], "date": "2026-03-01", "language": "en"}),
    (3, {"number": 14, "names": ["Maria Sidorova"], "date": None, "language": "en"}),  # 14, reported most
    (4, {"number": 0, "names": ["Anna Kowalska"], "date": "", "language": "en"}),
    (5, {"number": None, "names": [], "date": None, "language": "ru"}),
    (6, None),  # a story with no release report
    (6, {"number": 3, "names": [], "date": "2026-03-05", "language": "en"}),  # its release comes later
    (7, {"number": None, "names": ["Piotr Nowak", "Jan Kowal", "Olena Shevchenko"], "date": None, "language": "en"}),
]


def fill(store: Store, reports=REPORTS) -> None:
    for i, (story, facts) in enumerate(reports):
        seen = START + timedelta(days=i)
        item = FeedItem("https://wire.example/feed", "Wire", f"g{i}", f"https://wire.example/a/{i}",
                        f"Report {i} of story {story}", "", seen)
        article = Article(item=item, title=item.title, text="Belarus freed political prisoners.",
                          text_source="page", language="en")
        hits = [Hit("belarus-political-prisoners", (), False, snippet="Belarus freed political prisoners.")]
        facts = facts and {"destination": None, "broker": None, **facts}
        store.add_article(article, f"g{i}", f"u{i}", hits, seen, story=story, facts=facts)


def plans(store: Store, read) -> list[str]:
    """The query plan of every statement `read` runs, one line per step."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        read()
    finally:
        store.db.conn.set_trace_callback(None)
    steps = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT"):
            steps += [f"{row[3]}  <- {sql[:80]}" for row in store.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    assert steps, "no statement traced"
    return steps
