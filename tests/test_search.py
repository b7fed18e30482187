"""Full-text search (`news-monitor search`): rule queries translated to FTS5, folding of case, diacritics
and Cyrillic as the rules fold them, the index kept in step by the store and built by a migration for an
existing database, and the command's output; all on real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from monitor.cli import main
from monitor.errors import RuleError
from monitor.migrations import SEARCH_FOLD
from monitor.models import Article, FeedItem
from monitor.rules.query import parse
from monitor.search import searchable, snippet, to_match
from monitor.store import Store, iso
from tests.helpers import database_before

NOW = datetime.now(UTC).replace(microsecond=0)  # `search --since` counts back from the real clock

# Our own sentences, in the way outlets write about these topics.
ARTICLES = [
    (1, "Wire", "Łukashenka pardons eighteen prisoners",
     "Minsk said on Tuesday that eighteen political prisoners had been pardoned; the rights group Viasna "
     "counted eleven of them on its list. Ales Bialiatski was not among them.", 9),
    (2, "Радыё", "Освобождены ещё 18 политзаключённых",
     "Александр Лукашенко помиловал восемнадцать политзаключенных, сообщила правозащитная «Вясна». "
     "Среди освобождённых — журналисты.", 8),
    (3, "Defence Desk", "Zapad drills open near Barysaŭ",
     "Russian and Belarusian troops began the Zapad exercise on Friday, with live firing planned for the "
     "weekend. Observers from NATO states were not invited.", 5),
    (4, "Wire", "EU widens sanctions on Belarus",
     "The European Union added potash exporters and two banks to its Belarus sanctions list, citing the "
     "treatment of political prisoners and the country's role in the war.", 2),
    (5, "Café Crème", "Réunion à Vilnius",
     "L'opposition bélarusse s'est réunie à Vilnius pour parler des prisonniers politiques et de l'envoyé "
     "américain John Coale.", 1),
]


def article(n: int, outlet: str, title: str, text: str) -> Article:
    item = FeedItem(feed_url=f"https://feeds.example/{n % 3}.xml", feed_name=outlet, guid=f"g-{n}",
                    url=f"https://news.example/{n}", title=title, summary=f"Summary {n}", published=None)
    return Article(item=item, title=title, text=text, text_source="page", language="en",
                   canonical_url=f"https://news.example/{n}")


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "state" / "monitor.db") as opened:
        for n, outlet, title, text, days_ago in ARTICLES:
            opened.add_article(article(n, outlet, title, text), f"g-{n}", f"u-{n}", [], NOW - timedelta(days=days_ago))
        yield opened


def found(store: Store, query: str, **filters) -> list[int]:
    return [row["id"] for row in store.search(to_match(parse(query)), **filters)]


@pytest.mark.parametrize("query, ids", [
    ("prisoners", [4, 1]),                                  # newest first seen first
    ("PRISONERS", [4, 1]),                                  # case folded
    ('"political prisoners"', [4, 1]),
    ("prison*", [5, 4, 1]),                               # prisonniers too
    ("lukashenka", [1]),                                    # Ł folds to L, as in the rules
    ("bialiatski", [1]),
    ("barysau", [3]),                                       # ŭ folds to u
    ("reunion", [5]), ("belarusse", [5]),                   # é, é
    ("политзаключённых", [2]), ("политзаключенных", [2]),   # ё and е are one letter
    ("ПОЛИТЗАКЛЮЧЕННЫХ", [2]),                              # Cyrillic case
    ("освобожд*", [2]),                                     # Cyrillic prefix
    ("вясна", [2]),                                         # a word inside «guillemets»
    ("sanctions OR zapad", [4, 3]),
    ("belarus* AND NOT zapad", [5, 4]),
    ("belarus* NOT sanctions", [5, 3]),
    ("prisoners NEAR/3 political", [4, 1]),
    ("pardoned NEAR/1 eighteen", []),                        # 'eighteen political prisoners had been pardoned'
    ("(zapad OR sanctions) NEAR/2 (exercise OR list)", [4, 3]),
    ("title:sanctions", [4]), ("title:(prisoners OR drills)", [3, 1]),
    ("text:pardons", []), ("title:pardons", [1]),
    ("wire AND eu", [4]),                                   # the outlet is searched too
    ("coale", [5]),
])
def test_queries_in_the_rule_language(store, query, ids):
    assert found(store, query) == ids


def test_filters_by_time_and_feed(store):
    assert found(store, "prisoners", since=NOW - timedelta(days=3)) == [4]
    assert found(store, "prisoners OR zapad", feed="Wire") == [4, 1]
    assert found(store, "prisoners OR zapad", feed="https://feeds.example/0.xml") == [3]
    assert found(store, "prisoners", limit=1) == [4]


def test_few_and_many_matches_are_picked_the_same_way(tmp_path, monkeypatch):
    """A search sorts the rows of a few matches and walks the first_seen index for many (store.SEARCH_FEW):
    both give the newest first seen first, ties by id, with the filters, on 120 articles of which many share
    a moment (several arrive in one cycle) and ids that do not follow first_seen (an older article stored late)."""
    import monitor.store.articles as store_articles

    words = ["prisoners", "zapad", "sanctions", "envoy"]
    stored = []  # (id, topic words, outlet, feed url, first seen)
    with Store.open(tmp_path / "state" / "monitor.db") as opened:
        for n in range(120):
            topic = " ".join(w for k, w in enumerate(words) if n % (k + 2) == 0) or "weather"
            seen = NOW - timedelta(hours=(n * 7919) % 50)  # out of id order, 50 distinct moments
            made = article(n, f"Outlet {n % 5}", f"Report {n} on {topic}", f"Text about {topic}.")
            opened.add_article(made, f"g-{n}", f"u-{n}", [], seen)
            stored.append((n + 1, topic.split(), made.item.feed_name, made.item.feed_url, seen))
        queries = [("prisoners", {}), ("zapad OR envoy", {"limit": 7}), ("sanctions", {"feed": "Outlet 2"}),
                   ("prisoners AND NOT zapad", {"since": NOW - timedelta(hours=20)}), ("weather", {"limit": 50}),
                   ("envoy", {"feed": "https://feeds.example/1.xml", "since": NOW - timedelta(hours=30)}),
                   ("nothingsaidhere", {})]
        picked = {}
        for few in (0, 10_000):  # every search walks the index; every search sorts its matches' rows
            monkeypatch.setattr(store_articles, "SEARCH_FEW", few)
            picked[few] = [found(opened, query, **filters) for query, filters in queries]

    def expected(wanted, unwanted=(), limit=20, feed=None, since=None) -> list[int]:
        rows = [(seen, i) for i, topic, name, url, seen in stored
                if any(w in topic for w in wanted) and not any(w in topic for w in unwanted)
                and (feed is None or feed in (name, url)) and (since is None or seen >= since)]
        return [i for _, i in sorted(rows, reverse=True)[:limit]]

    assert picked[0] == picked[10_000] == [
        expected(["prisoners"]), expected(["zapad", "envoy"], limit=7), expected(["sanctions"], feed="Outlet 2"),
        expected(["prisoners"], ["zapad"], since=NOW - timedelta(hours=20)), expected(["weather"], limit=50),
        expected(["envoy"], feed="https://feeds.example/1.xml", since=NOW - timedelta(hours=30)), []]
    assert [len(ids) for ids in picked[0]][:3] == [20, 7, 6]


@pytest.mark.parametrize("query, message", [
    ("prisoners EXCEPT/3 pardoned", "EXCEPT"),
    ("SENTENCES/2 prisoners", "SENTENCES"),
    ("lead:prisoners", "lead:"),
    ("NOT prisoners", "only NOT"),  # the rule parser refuses it already
])
def test_what_fts_cannot_say_is_a_clear_error(query, message):
    with pytest.raises(RuleError, match=message):
        to_match(parse(query))


def test_translation_quotes_every_token():
    assert to_match(parse('"and or" near*')) == '("and or" AND "near" *)'
    assert to_match(parse("covid-19")) == '"covid 19"'


def test_updates_and_deletions_keep_the_index_in_step(store):
    changed = article(3, "Defence Desk", "Zapad drills end", "The exercise ended early, officials said.")
    store.update_article(3, changed, [], NOW, fingerprint=None, features=None, facts=None, item_hash="h")
    assert found(store, "observers") == [] and found(store, "ended") == [3]
    with store.transaction():
        store.db.execute("DELETE FROM articles WHERE id = 5")  # as retention would
    assert found(store, "coale") == []
    assert store.db.execute("SELECT count(*) FROM article_search").fetchone()[0] == 4


def indexed_terms(store: Store) -> dict[str, int]:
    """term -> how many articles the index says hold it (fts5vocab reads the index itself)."""
    store.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_terms USING fts5vocab(main, article_search, row)")
    return dict(store.db.execute("SELECT term, doc FROM temp.search_terms").fetchall())


def terms_of_rows(store: Store) -> dict[str, int]:
    """The same, computed from the articles as stored now."""
    out: dict[str, int] = {}
    for title, text, summary, outlet in store.db.execute("SELECT title, text, summary, feed_name FROM articles"):
        for term in set(" ".join((searchable(title), searchable(text, summary), searchable(outlet))).split()):
            out[term] = out.get(term, 0) + 1
    return out


def test_the_index_holds_exactly_the_stored_rows_after_updates_prunes_and_deletes(store):
    """Contentless FTS5 leaves an entry only by the 'delete' command with the values indexed: a wrong value
    would leave stale postings behind. The index's own vocabulary is compared with the articles' at each step."""
    assert indexed_terms(store) == terms_of_rows(store)
    changed = article(4, "Wire", "ЕС расширил санкции", "Новый текст после правки редакции.")
    store.update_article(4, changed, [], NOW, fingerprint=None, features=None, facts=None, item_hash="h")
    store.prune(text_before=NOW - timedelta(days=4), articles_before=None, messages_before=None)
    with store.transaction():
        store.db.execute("DELETE FROM articles WHERE id = 5")
    terms = indexed_terms(store)
    assert "potash" not in terms and "правки" in terms  # the update
    assert "помиловал" not in terms and "политзаключенных" in terms  # its text pruned, its title kept
    assert "coale" not in terms  # deleted
    assert indexed_terms(store) == terms_of_rows(store)
    store.db.execute("INSERT INTO article_search (article_search) VALUES ('integrity-check')")


def test_the_text_is_not_stored_twice_and_nothing_writes_an_article_past_the_index(store, tmp_path):
    tables = store.db.table_names()
    assert "article_search_data" in tables and "article_search_content" not in tables  # contentless
    other = sqlite3.connect(tmp_path / "state" / "monitor.db")  # a tool that does not know the index's fold
    with pytest.raises(sqlite3.OperationalError, match="news_monitor_searchable"):
        other.execute("UPDATE articles SET text = 'edited by hand' WHERE id = 1")
    with pytest.raises(sqlite3.OperationalError, match="news_monitor_searchable"):
        other.execute("INSERT INTO articles (guid_key, url_key, title, text, feed_name, first_seen) "
                      "VALUES ('g-x', 'u-x', 'Imported by hand', 'From an archive.', 'Archive', ?)", [iso(NOW)])
    other.close()
    assert found(store, "pardoned") == [1]



def database_before_search(path) -> Database:
    """A database migrated up to, not including, 012_search: what an older monitor left behind."""
    return database_before(path, "012_search", NOW)


def test_migration_turns_the_first_index_form_into_the_contentless_one(tmp_path):
    """A database whose 012 built the first form (an FTS5 table with its own copy of the folded text)."""
    path = tmp_path / "first.db"
    db = database_before_search(path)
    db.execute("CREATE VIRTUAL TABLE article_search USING fts5(title, body, outlet, tokenize = 'ascii')")
    db.execute("CREATE TRIGGER article_search_delete AFTER DELETE ON articles BEGIN "
               "DELETE FROM article_search WHERE rowid = old.id; END")
    db["_migrations"].insert({"name": "012_search", "applied": iso(NOW)})
    for n, outlet, title, text, _ in ARTICLES:
        db["articles"].insert({"id": n, "guid_key": f"g-{n}", "url_key": f"u-{n}", "feed_name": outlet,
                               "title": title, "text": text, "first_seen": iso(NOW)})
        db.execute("INSERT INTO article_search (rowid, title, body, outlet) VALUES (?, ?, ?, ?)",
                   [n, searchable(title), searchable(text), searchable(outlet)])
    db.conn.commit()
    db.conn.close()
    with Store.open(path) as store:
        assert "article_search_content" not in store.db.table_names()
        assert found(store, "политзаключенных") == [2] and found(store, "title:drills") == [3]
        assert indexed_terms(store) == terms_of_rows(store)
        with store.transaction():
            store.db.execute("DELETE FROM articles WHERE id = 2")
        assert found(store, "политзаключенных") == []


def test_retention_drops_the_indexed_text_with_the_text(store):
    counts = store.prune(text_before=NOW - timedelta(days=4), articles_before=None, messages_before=None)
    assert counts["texts"] == 3  # articles 1, 2 and 3 (none has hits)
    assert found(store, "observers") == [] and found(store, "zapad") == [3]  # its title is kept
    assert found(store, "sanctions") == [4]


def test_a_failed_article_write_leaves_no_index_entry(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.add_article(article(9, "Wire", "Envoy John Coale in Minsk", "The envoy met officials."), "g-9", "u-9",
                          [], NOW)
        raise RuntimeError("crash after the article was written")
    assert found(store, "envoy") == []


def test_migration_builds_the_index_for_an_existing_database(tmp_path):
    path = tmp_path / "old.db"
    db = database_before_search(path)
    for n, outlet, title, text, _ in ARTICLES:
        db["articles"].insert({"guid_key": f"g-{n}", "url_key": f"u-{n}", "url": f"https://news.example/{n}",
                               "feed_name": outlet, "title": title, "text": text, "first_seen": iso(NOW),
                               "summary": "Kept in the summary only" if n == 4 else None})
    db.conn.close()
    with Store.open(path) as store:
        assert found(store, "политзаключенных") == [2]
        assert found(store, "summary NEAR/2 only") == [4]
        assert store.db.execute("SELECT count(*) FROM article_search").fetchone()[0] == len(ARTICLES)


def test_snippet_marks_the_words_in_the_original_text():
    text = "Start. " + "filler " * 60 + "Ales Bialiatski and Viasna's lawyers spoke. " + "more " * 60
    out = snippet(text, parse('bialiatski OR "viasna s"'))
    assert "[Bialiatski]" in out and "[Viasna]'[s]" in out
    assert out.startswith("…") and out.endswith("…") and len(out) < 200
    assert snippet("Short text.", parse("absent")) == "Short text."


def test_search_command(store, write_config, tmp_path):
    config = write_config([], state_dir=str(tmp_path / "state"))
    runner = CliRunner()
    result = runner.invoke(main, ["--config", str(config), "search", "политзаключённых", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["id"] == 2 and record["feed"] == "Радыё" and record["url"] == "https://news.example/2"
    assert "[политзаключенных]" in record["snippet"]
    text = runner.invoke(main, ["--config", str(config), "search", "prisoners", "--since", "30d", "--feed", "Wire"])
    assert text.exit_code == 0
    assert text.output.index("EU widens") < text.output.index("Łukashenka pardons")  # newest first
    assert "[prisoners]" in text.output
    refused = runner.invoke(main, ["--config", str(config), "search", "a EXCEPT b"])
    assert refused.exit_code == 2 and "EXCEPT" in refused.output
    none = runner.invoke(main, ["--config", str(config), "search", "zzzz"])
    assert none.exit_code == 0 and "no stored article matches" in none.output


# -- the index fed once per transaction (migrations._018_search_batched) ------------------------------------------

def postings(store: Store) -> tuple[list, list, bytes]:
    """Every (term, article, column, offset) the index holds: what any MATCH reads; each article's token count
    per column; and the totals (rows, tokens per column) that bm25 ranks by: a 'delete' of a row never indexed
    leaves the postings as they were but not these."""
    store.db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_postings "
                     "USING fts5vocab(main, article_search, instance)")
    return (sorted(store.db.execute("SELECT term, doc, col, offset FROM temp.search_postings").fetchall()),
            store.db.execute("SELECT id, sz FROM article_search_docsize ORDER BY id").fetchall(),
            store.db.execute("SELECT block FROM article_search_data WHERE id = 1").fetchone()[0])


def per_article_triggers(store: Store) -> None:
    """The triggers 018 replaced, as they were (014's contentless index, fed by each article's insert)."""
    from monitor.migrations import _FOLDED
    insert = f"INSERT INTO article_search (rowid, title, body, outlet) VALUES (new.id, {_FOLDED.format(row='new')});"
    delete = (f"INSERT INTO article_search (article_search, rowid, title, body, outlet) VALUES ('delete', old.id, "
              f"{_FOLDED.format(row='old')});")
    for name in ("article_search_insert", "article_search_update", "article_search_delete"):
        store.db.execute(f"DROP TRIGGER {name}")
    store.db.execute(f"CREATE TRIGGER article_search_insert AFTER INSERT ON articles BEGIN {insert} END")
    store.db.execute("CREATE TRIGGER article_search_update AFTER UPDATE OF title, text, summary, feed_name ON articles "
                     "WHEN old.title IS NOT new.title OR old.text IS NOT new.text OR old.summary IS NOT new.summary "
                     f"OR old.feed_name IS NOT new.feed_name BEGIN {delete} {insert} END")
    store.db.execute(f"CREATE TRIGGER article_search_delete AFTER DELETE ON articles BEGIN {delete} END")


def a_pipeline_batch(store: Store) -> None:
    """What a cycle does: articles stored in one transaction, each in a savepoint (one fails), one of them then
    changed by its publisher and one deleted before the commit; then a later update and a retention delete."""
    with store.transaction():
        for n, outlet, title, text, days_ago in ARTICLES:
            store.add_article(article(n + 10, outlet, title, text), f"b-{n}", f"bu-{n}", [],
                              NOW - timedelta(days=days_ago))
        with pytest.raises(RuntimeError), store.transaction():
            store.add_article(article(99, "Wire", "Envoy John Coale in Minsk", "The envoy met officials."),
                              "b-99", "bu-99", [], NOW)
            raise RuntimeError("this article's savepoint is rolled back")
        changed = article(13, "Defence Desk", "Zapad drills end", "The exercise ended early, officials said.")
        store.update_article(8, changed, [], NOW, fingerprint=None, features=None, facts=None, item_hash="h")
        store.db.execute("DELETE FROM articles WHERE id = 9")
    changed = article(1, "Wire", "Eighteen freed", "A later correction of the first report.")
    store.update_article(1, changed, [], NOW, fingerprint=None, features=None, facts=None, item_hash="h")
    with store.transaction():
        store.db.execute("DELETE FROM articles WHERE id = 7")


def test_a_transaction_of_many_articles_indexes_them_as_each_article_did(tmp_path):
    """The same writes through the old per-article triggers and through the batched ones: the same postings, so
    every search gives the same answer; nothing left noted; FTS5 finds its index consistent."""
    with Store.open(tmp_path / "old" / "monitor.db") as old, Store.open(tmp_path / "new" / "monitor.db") as new:
        per_article_triggers(old)
        for store in (old, new):
            for n, outlet, title, text, days_ago in ARTICLES:
                store.add_article(article(n, outlet, title, text), f"g-{n}", f"u-{n}", [],
                                  NOW - timedelta(days=days_ago))
            a_pipeline_batch(store)
            store.db.execute("INSERT INTO article_search (article_search) VALUES ('integrity-check')")
        assert postings(new) == postings(old) and postings(new)[0]
        assert indexed_terms(new) == terms_of_rows(new)
        assert new.db.execute("SELECT count(*) FROM article_search_pending").fetchone()[0] == 0
        assert found(new, "ended") == [8] and found(new, "observers") == [3] and found(new, "correction") == [1]
        assert sorted(found(new, "coale")) == [5, 10] and found(new, "envoy") == []  # 99 was rolled back
        assert found(new, "potash") == [4] and found(new, "помиловал") == [2]  # their copies 9 and 7 deleted


def test_articles_are_searchable_once_their_transaction_commits(store):
    with store.transaction():
        store.add_article(article(6, "Wire", "Envoy John Coale in Minsk", "The envoy met officials."), "g-6", "u-6",
                          [], NOW)
        assert store.db.execute("SELECT count(*) FROM article_search_pending").fetchone()[0] == 1
    assert found(store, "envoy") == [6]


def test_a_store_indexed_before_018_stays_in_step_after_it(tmp_path):
    """Articles indexed by 014's per-article triggers, then 018 applied: the same postings as before it, and the
    same after a batch that updates and deletes both those articles and the new ones."""
    stores = []
    for name in ("old", "new"):
        db = database_before(tmp_path / f"{name}.db", "018_search_batched", NOW)
        db.conn.create_function(SEARCH_FOLD, -1, searchable, deterministic=True)
        for n, outlet, title, text, _ in ARTICLES:
            db["articles"].insert({"guid_key": f"g-{n}", "url_key": f"u-{n}", "feed_name": outlet, "title": title,
                                   "text": text, "summary": f"Summary {n}", "first_seen": iso(NOW)})
        db.conn.commit()
        db.conn.close()
        stores.append(Store.open(tmp_path / f"{name}.db"))
    old, new = stores
    with old, new:
        assert new.db.execute("SELECT 1 FROM _migrations WHERE name = '018_search_batched'").fetchone()
        per_article_triggers(old)
        assert postings(new) == postings(old) and indexed_terms(new) == terms_of_rows(new)
        for store in (old, new):
            a_pipeline_batch(store)
            store.db.execute("INSERT INTO article_search (article_search) VALUES ('integrity-check')")
        assert postings(new) == postings(old) and indexed_terms(new) == terms_of_rows(new)
        assert found(new, "correction") == [1] and found(new, "помиловал") == [2]  # 1 updated, its copy 7 deleted
