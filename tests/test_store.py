"""Store on real SQLite files: migrations, WAL, article and hit uniqueness, feed polls, messages, deliveries."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlite_utils import Database

from monitor.migrations import MIGRATIONS
from monitor.models import Article, Evidence, Feed, FeedItem, Hit, Message
from monitor.polling import PollDecision
from monitor.store import Store
from tests.message_builders import message


def poll(store, url, now, next_check, error=None, **validators):
    """record_poll with a PollDecision built from the old keyword form."""
    store.record_poll(url, now, PollDecision(ok=error is None, next_check=next_check, error=error, **validators))


NOW = datetime(2025, 10, 7, 15, 0, tzinfo=UTC)
MIGRATION_NAMES = [name for name, _ in MIGRATIONS]


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "state" / "monitor.db") as opened:
        yield opened


def article(n: int = 1, title: str | None = None, published: datetime | None = None) -> Article:
    item = FeedItem(feed_url="https://feeds.example/world.xml", feed_name="World", guid=f"g-{n}",
                    url=f"https://news.example/a/{n}", title=title or f"Story {n}", summary=f"Summary {n}",
                    published=published)
    return Article(item=item, title=item.title, text=f"Text of story {n}", text_source="page",
                   language="en", canonical_url=f"https://news.example/a/{n}")


def hit(rule: str, alert: bool = False) -> Hit:
    return Hit(rule=rule, evidence=(Evidence("text", rule, 0, len(rule)),), alert=alert,
               snippet=f"...{rule}...", why=f"matched {rule}")


def add(store: Store, n: int, hits=(), when: datetime = NOW) -> int | None:
    return store.add_article(article(n), f"guid-{n}", f"url-{n}", list(hits), when)


# -- schema -------------------------------------------------------------------------------------


def test_migrations_are_recorded(store):
    rows = list(store.db["_migrations"].rows)
    assert [r["name"] for r in rows] == MIGRATION_NAMES
    assert all(r["applied"].endswith("Z") for r in rows)
    assert {"feeds", "articles", "hits", "messages", "deliveries"} <= set(store.db.table_names())


def test_migrate_applies_each_migration_once():
    fresh = Store(Database(memory=True))
    assert fresh.migrate() == MIGRATION_NAMES
    assert fresh.migrate() == []
    assert Store.memory().migrate() == []


def test_opening_twice_keeps_data_and_migrates_nothing(tmp_path):
    path = tmp_path / "monitor.db"
    with Store.open(path) as first:
        first.sync_feeds([Feed("https://feeds.example/a.xml", "A", 900)])
        assert add(first, 1) is not None
        applied_at = [r["applied"] for r in first.db["_migrations"].rows]
    with Store.open(path) as second:
        assert second.migrate() == []
        assert [r["applied"] for r in second.db["_migrations"].rows] == applied_at
        assert second.counts()["feeds"] == 1 and second.counts()["articles"] == 1


def test_wal_mode_and_foreign_keys(store, tmp_path):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert (tmp_path / "state" / "monitor.db").is_file()


def test_a_second_connection_sees_committed_writes(tmp_path):
    path = tmp_path / "monitor.db"
    with Store.open(path) as writer, Store.open(path) as reader:
        add(writer, 1, [hit("zapad")])
        assert reader.counts()["articles"] == 1
        assert reader.known_keys(["guid-1"]) == {"guid-1", "url-1"}


# -- articles and hits ----------------------------------------------------------------------------


def test_add_article_stores_the_article(store):
    published = datetime(2025, 10, 7, 14, 20, tzinfo=UTC)
    article_id = store.add_article(article(1, published=published), "guid-1", "url-1", [], NOW)
    row = store.db["articles"].get(article_id)
    assert row["guid_key"] == "guid-1" and row["url_key"] == "url-1"
    assert row["title"] == "Story 1" and row["text"] == "Text of story 1"
    assert row["text_source"] == "page" and row["language"] == "en"
    assert row["published"] == "2025-10-07T14:20:00Z"
    assert row["first_seen"] == "2025-10-07T15:00:00Z"
    assert row["story"] == str(article_id)


@pytest.mark.parametrize("guid_key, url_key", [
    ("guid-1", "url-other"),    # same GUID key
    ("guid-other", "url-1"),    # same URL key
    ("guid-1", "url-1"),        # both
    (None, "url-1"),            # no GUID, same URL
    ("guid-1", None),           # same GUID, no URL
])
def test_second_article_with_a_known_key_is_not_stored(store, guid_key, url_key):
    assert store.add_article(article(1), "guid-1", "url-1", [hit("zapad")], NOW) is not None
    assert store.add_article(article(2), guid_key, url_key, [hit("sanctions")], NOW) is None
    assert store.counts()["articles"] == 1
    assert [h["rule"] for h in store.db["hits"].rows] == ["zapad"]  # the duplicate's hits are dropped too


def test_articles_without_keys_are_distinct(store):
    assert store.add_article(article(1), None, "url-1", [], NOW) is not None
    assert store.add_article(article(2), None, "url-2", [], NOW) is not None
    assert store.add_article(article(3), "guid-3", None, [], NOW) is not None
    assert store.add_article(article(4), "guid-4", None, [], NOW) is not None
    assert store.counts()["articles"] == 4


def test_hits_are_unique_per_article_and_rule(store):
    article_id = add(store, 1, [hit("zapad"), hit("zapad", alert=True), hit("sanctions")])
    rows = list(store.db.query("SELECT rule, alert, evidence, snippet, why FROM hits WHERE article_id = ? "
                               "ORDER BY rule", [article_id]))
    assert [r["rule"] for r in rows] == ["sanctions", "zapad"]
    assert rows[1]["alert"] == 0  # the first hit for a rule wins
    assert json.loads(rows[1]["evidence"]) == [{"field": "text", "term": "zapad", "start": 0, "end": 5}]
    assert rows[1]["snippet"] == "...zapad..." and rows[1]["why"] == "matched zapad"


def test_the_same_rule_may_hit_different_articles(store):
    add(store, 1, [hit("zapad")])
    add(store, 2, [hit("zapad")])
    assert store.counts()["hits"] == 2


def test_hit_on_a_missing_article_is_refused_by_the_foreign_key(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("INSERT INTO hits (article_id, rule) VALUES (999, 'zapad')")


def test_known_keys(store):
    add(store, 1)
    add(store, 2)
    assert store.known_keys(["guid-1", "url-2", "guid-9", None, ""]) == {"guid-1", "url-1", "guid-2", "url-2"}
    assert store.known_keys([]) == set()
    assert store.known_keys([f"k{i}" for i in range(1000)] + ["url-1"]) == {"guid-1", "url-1"}


def test_hits_listing_filters(store):
    add(store, 1, [hit("zapad"), hit("sanctions")], when=NOW)
    add(store, 2, [hit("sanctions")], when=NOW + timedelta(hours=1))
    rows = store.hits()
    assert [r["title"] for r in rows] == ["Story 1", "Story 2"]
    assert rows[0]["rules"] == ["sanctions", "zapad"]
    assert [r["title"] for r in store.hits(rule="zapad")] == ["Story 1"]
    assert [r["title"] for r in store.hits(since=NOW + timedelta(minutes=30))] == ["Story 2"]


# -- feeds ----------------------------------------------------------------------------------------

FEED_A = Feed("https://feeds.example/a.xml", "A", 900)
FEED_B = Feed("https://feeds.example/b.xml", "B", 900)


def test_new_feeds_are_due_at_once(store):
    store.sync_feeds([FEED_B, FEED_A])
    due = store.due_feeds(NOW)
    # in the order the feeds were added (table order: a batch of due feeds updates neighbouring rows)
    assert [f.url for f in due] == [FEED_B.url, FEED_A.url]
    assert all(f.errors == 0 and f.etag is None and f.next_check is None for f in due)


def test_sync_feeds_renames_and_keeps_state(store):
    store.sync_feeds([FEED_A])
    poll(store, FEED_A.url, NOW, NOW + timedelta(minutes=15), etag='"e1"')
    store.sync_feeds([Feed(FEED_A.url, "A renamed", 900)])
    (state,) = store.due_feeds(NOW, force=True)
    assert state.name == "A renamed" and state.etag == '"e1"'


def test_record_poll_round_trip(store):
    store.sync_feeds([FEED_A, FEED_B])
    poll(store, FEED_A.url, NOW, NOW + timedelta(minutes=15), etag='"v1"',
                      last_modified="Tue, 07 Oct 2025 14:30:00 GMT")

    assert [f.url for f in store.due_feeds(NOW)] == [FEED_B.url]
    assert store.due_feeds(NOW + timedelta(minutes=14)) == store.due_feeds(NOW)
    (a, _b) = store.due_feeds(NOW + timedelta(minutes=15))
    assert (a.url, a.etag, a.last_modified, a.errors) == (
        FEED_A.url, '"v1"', "Tue, 07 Oct 2025 14:30:00 GMT", 0)
    assert a.next_check == "2025-10-07T15:15:00Z"


def test_a_304_poll_keeps_the_validators(store):
    store.sync_feeds([FEED_A])
    poll(store, FEED_A.url, NOW, NOW, etag='"v1"', last_modified="lm1")
    poll(store, FEED_A.url, NOW, NOW)  # no new validators: the old ones stay
    (state,) = store.due_feeds(NOW)
    assert (state.etag, state.last_modified) == ('"v1"', "lm1")
    poll(store, FEED_A.url, NOW, NOW, etag='"v2"')
    assert store.due_feeds(NOW)[0].etag == '"v2"'


def test_errors_are_counted_and_reset(store):
    store.sync_feeds([FEED_A])
    poll(store, FEED_A.url, NOW, NOW, etag='"v1"')
    for n in range(1, 4):
        poll(store, FEED_A.url, NOW, NOW + timedelta(minutes=n), error=f"HTTP 503 #{n}")
        assert store.due_feeds(NOW, force=True)[0].errors == n
    health = store.feed_health()[0]
    assert health["last_error"] == "HTTP 503 #3"
    assert health["errors"] == 3
    assert store.due_feeds(NOW, force=True)[0].etag == '"v1"'  # a failure does not lose validators
    assert store.due_feeds(NOW + timedelta(minutes=2)) == []
    assert len(store.due_feeds(NOW + timedelta(minutes=3))) == 1

    poll(store, FEED_A.url, NOW, NOW + timedelta(minutes=15))
    health = store.feed_health()[0]
    assert health["errors"] == 0 and health["last_error"] is None
    assert health["last_ok"] == "2025-10-07T15:00:00Z"


def test_long_error_messages_are_clipped(store):
    store.sync_feeds([FEED_A])
    poll(store, FEED_A.url, NOW, NOW, error="x" * 5000)
    assert len(store.feed_health()[0]["last_error"]) == 2000


def test_due_feeds_force_and_url_filter(store):
    store.sync_feeds([FEED_A, FEED_B])
    later = NOW + timedelta(hours=1)
    poll(store, FEED_A.url, NOW, later)
    poll(store, FEED_B.url, NOW, later)
    assert store.due_feeds(NOW) == []
    assert [f.url for f in store.due_feeds(NOW, force=True)] == [FEED_A.url, FEED_B.url]
    assert [f.url for f in store.due_feeds(NOW, force=True, urls=[FEED_B.url])] == [FEED_B.url]
    assert store.due_feeds(later, urls=[]) == []


# -- messages and deliveries --------------------------------------------------------------------------


def test_pending_items_for_alerts_are_only_alert_hits(store):
    add(store, 1, [hit("zapad", alert=True), hit("sanctions")])
    add(store, 2, [hit("sanctions")])

    alert_items, alert_hits = store.pending_items("alert")
    digest_items, digest_hits = store.pending_items("digest")

    assert [i.title for i in alert_items] == ["Story 1"]
    assert alert_items[0].rules == ("zapad",)
    assert len(alert_hits) == 1
    assert [i.title for i in digest_items] == ["Story 1", "Story 2"]
    assert digest_items[0].rules == ("sanctions", "zapad")
    assert len(digest_hits) == 3
    item = digest_items[0]
    assert item.url == "https://news.example/a/1" and item.feed == "World"
    assert item.first_seen == "2025-10-07T15:00:00Z" and item.text_source == "page"
    assert item.alerted is False


def test_saved_message_claims_its_hits_and_queues_deliveries(store):
    add(store, 1, [hit("zapad", alert=True), hit("sanctions")])
    items, hit_ids = store.pending_items("alert")

    store.save_message(message("alert-1", "alert", items), hit_ids, ["file", "slack"])

    assert store.pending_items("alert") == ([], [])
    digest_items, digest_hits = store.pending_items("digest")
    assert len(digest_hits) == 2  # an alert does not take the hits out of the digest
    assert digest_items[0].alerted is True
    deliveries = store.pending_deliveries(NOW, ["file", "slack"])
    assert [(d.message_id, d.channel, d.attempts) for d in deliveries] == [
        ("alert-1", "file", 0), ("alert-1", "slack", 0)]
    assert deliveries[0].kind == "alert" and deliveries[0].subject == "alert alert-1"
    assert deliveries[0].data == {"id": "alert-1", "n": 1}
    assert deliveries[0].html == "<p>html</p>" and deliveries[0].text == "plain"


def test_digest_claims_every_pending_hit(store):
    add(store, 1, [hit("zapad", alert=True)])
    add(store, 2, [hit("sanctions")])
    items, hit_ids = store.pending_items("digest")
    store.save_message(message("digest-1", "digest", items), hit_ids, ["file"])
    assert store.pending_items("digest") == ([], [])
    assert len(store.pending_items("alert")[1]) == 1  # the alert is still owed


def test_deliveries_for_removed_channels_are_not_pending(store):
    store.save_message(message("m1", "digest"), [], ["file", "email"])
    assert [d.channel for d in store.pending_deliveries(NOW, ["file"])] == ["file"]
    assert store.pending_deliveries(NOW, []) == []


def test_successful_delivery_is_not_pending_again(store):
    store.save_message(message("m1", "digest"), [], ["file", "slack"])
    store.begin_attempt("m1", "file", NOW, None)
    store.record_sent("m1", "file", NOW)
    assert [d.channel for d in store.pending_deliveries(NOW, ["file", "slack"])] == ["slack"]
    row = next(r for r in store.deliveries() if r["channel"] == "file")
    assert (row["status"], row["attempts"], row["sent_at"], row["last_error"], row["attempt_started"]) == (
        "sent", 1, "2025-10-07T15:00:00Z", None, None)


def test_failed_delivery_waits_for_its_retry_time(store):
    store.save_message(message("m1", "digest"), [], ["slack"])
    store.begin_attempt("m1", "slack", NOW, None)
    store.record_failure("m1", "slack", status="pending", error="HTTP 503", failure="temporary",
                         next_attempt=NOW + timedelta(minutes=10))

    assert store.pending_deliveries(NOW + timedelta(minutes=9), ["slack"]) == []
    (retry,) = store.pending_deliveries(NOW + timedelta(minutes=10), ["slack"])
    assert retry.attempts == 1 and retry.failure == "temporary" and retry.last_error == "HTTP 503"
    row = store.deliveries()[0]
    assert (row["status"], row["last_error"], row["next_attempt"]) == ("pending", "HTTP 503", "2025-10-07T15:10:00Z")

    store.begin_attempt("m1", "slack", NOW + timedelta(minutes=10), None)
    store.record_sent("m1", "slack", NOW + timedelta(minutes=10))
    assert store.pending_deliveries(NOW + timedelta(days=1), ["slack"]) == []
    assert store.deliveries()[0]["attempts"] == 2 and store.deliveries()[0]["status"] == "sent"


def test_an_attempt_is_on_record_before_the_send_and_a_held_channel_waits(store):
    """A crash between begin_attempt and record_sent leaves the attempt visible and the message due
    again (at least once, same ref); a channel held by a Retry-After gets nothing, new messages included."""
    store.save_message(message("m1", "alert"), [], ["email", "slack"])
    store.begin_attempt("m1", "email", NOW, "<m1.alert@news-monitor>")
    (again,) = [d for d in store.pending_deliveries(NOW, ["email"])]
    assert again.ref == "<m1.alert@news-monitor>" and again.attempts == 1
    assert next(r for r in store.deliveries() if r["channel"] == "email")["attempt_started"] == "2025-10-07T15:00:00Z"

    store.hold_channel("slack", NOW + timedelta(minutes=10), "HTTP 429")
    store.save_message(message("m2", "alert"), [], ["slack"])
    assert store.pending_deliveries(NOW + timedelta(minutes=9), ["slack"]) == []
    assert [d.message_id for d in store.pending_deliveries(NOW + timedelta(minutes=10), ["slack"])] == ["m1", "m2"]


def test_dead_delivery_is_not_pending_and_requeue_brings_it_back(store):
    store.save_message(message("m1", "digest"), [], ["slack"])
    store.record_failure("m1", "slack", status="dead", error="HTTP 410: channel_is_archived", failure="permanent",
                         next_attempt=None)
    assert store.pending_deliveries(NOW, ["slack"]) == []
    (row,) = store.unsent_deliveries()
    assert (row["status"], row["reason"]) == ("dead", "HTTP 410: channel_is_archived")
    assert store.requeue(NOW, dead_only=True) == 1
    (again,) = store.pending_deliveries(NOW, ["slack"])
    assert again.queued == "2025-10-07T15:00:00Z" and again.failure is None


def test_pending_deliveries_are_oldest_first(store):
    store.save_message(Message("b", "digest", "2025-10-07T10:00:00Z", (), "s", "t", "h"), [], ["file"])
    store.save_message(Message("a", "digest", "2025-10-07T11:00:00Z", (), "s", "t", "h"), [], ["file"])
    assert [d.message_id for d in store.pending_deliveries(NOW, ["file"])] == ["b", "a"]


def test_save_message_is_atomic(store):
    add(store, 1, [hit("zapad", alert=True)])
    items, hit_ids = store.pending_items("alert")
    with pytest.raises(sqlite3.IntegrityError):
        store.save_message(message("m1", "alert", items), hit_ids, ["file", "file"])  # duplicate delivery
    assert store.counts()["messages"] == 0 and store.counts()["deliveries"] == 0
    assert store.pending_items("alert")[1] == hit_ids  # the hits were not claimed
    assert not store.db.conn.in_transaction


def test_a_full_content_items_text_is_stored_once(store):
    """A feed that carries the whole article: its text is the item's summary, kept once (text column);
    a page article keeps the feed's teaser beside the page text."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    body = "Officials in Minsk said the talks would continue next week. " * 80
    full = FeedItem("https://f.example/feed", "F", "g1", "https://f.example/1", "Full", body, now)
    teaser = FeedItem("https://f.example/feed", "F", "g2", "https://f.example/2", "Page", "A teaser.", now)
    store.add_article(Article(full, "Full", body, "summary"), "g1", "u1", [], now)
    store.add_article(Article(teaser, "Page", body, "page"), "g2", "u2", [], now)
    rows = {r["guid_key"]: r for r in store.db.query("SELECT guid_key, summary, text FROM articles")}
    assert rows["g1"]["summary"] is None and rows["g1"]["text"] == body
    assert rows["g2"]["summary"] == "A teaser." and rows["g2"]["text"] == body
    size = store.db.execute("SELECT sum(length(coalesce(summary, '')) + length(text)) FROM articles "
                            "WHERE guid_key = 'g1'").fetchone()[0]
    assert size == len(body)
