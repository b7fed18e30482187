"""Articles and hits as they are written: identity keys, new articles with their hits and alert claims
(one transaction), copies as sources, updates, search, and what was suppressed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from monitor.models import Article, Hit, StoredArticle, StoryId, unsigned64
from monitor.store.common import SEARCH_FEW, _json, _moment, _signed, _summary, iso


class ArticleRows:
    """Articles with their hits and sources, as the pipeline writes them; full-text search.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these GUID keys or URL keys already name a stored article."""
        keys = list({k for k in keys if k})
        found: set[str] = set()
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            marks = ",".join("?" * len(chunk))
            for table in ("articles", "sources"):
                for row in self.db.query(f"SELECT guid_key, url_key FROM {table} WHERE guid_key IN ({marks}) "
                                         f"OR url_key IN ({marks})", chunk + chunk):
                    found.update(k for k in (row["guid_key"], row["url_key"]) if k)
        return found

    def stored_items(self, keys: Iterable[str]) -> dict[str, StoredArticle]:
        """GUID or URL key -> the stored article it names (not copies)."""
        keys = list({k for k in keys if k})
        found: dict[str, StoredArticle] = {}
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT id, guid_key, url_key, item_hash, fingerprint, first_seen, "
                                     f"coalesce(page_checked, first_seen) AS page_checked FROM articles "
                                     f"WHERE guid_key IN ({marks}) OR url_key IN ({marks})", chunk + chunk):
                stored = StoredArticle(row["id"], row["item_hash"],
                                       None if row["fingerprint"] is None else unsigned64(row["fingerprint"]),
                                       _moment(row["first_seen"]), _moment(row["page_checked"]))
                for key in (row["guid_key"], row["url_key"]):
                    if key:
                        found[key] = stored
        return found

    def add_article(self, article: Article, guid_key: str | None, url_key: str | None,
                    hits: Sequence[Hit], now: datetime, *, story: StoryId | None = None,
                    fingerprint: int | None = None, features: dict | None = None, facts: dict | None = None,
                    item_hash: str | None = None, notes: Sequence[str] = ()) -> int | None:
        """Insert the article, its hits and its story's bookkeeping in one transaction; None when it
        was already stored. A hit that asks for an alert gets it only if its story has not alerted for
        that rule yet: claimed here, atomically, so a crash can neither lose nor repeat an alert."""
        item = article.item
        with self.transaction():
            row = self.db.execute(
                "INSERT INTO articles (guid_key, url_key, guid, url, canonical_url, feed_url, feed_name, "
                "title, summary, text, text_source, text_note, language, published, first_seen, fingerprint, "
                "story_features, release_facts, item_hash, outlet_url) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                [guid_key, url_key, item.guid, item.url, article.canonical_url, item.feed_url,
                 item.outlet, article.title, _summary(article), article.text, article.text_source,
                 article.note, article.language, iso(item.published) if item.published else None,
                 iso(now), _signed(fingerprint), _json(features), _json(facts), item_hash,
                 item.source_url]).fetchone()
            if row is None:
                return None
            article_id = row[0]  # noted by the insert's trigger: indexed for search when the transaction commits
            self._search_pending = True
            story_id = story if story is not None else article_id
            story = str(story_id)  # the story columns are text
            self.db.execute("UPDATE articles SET story = ? WHERE id = ?", [story, article_id])
            # (the story's alerted rules come back from the upsert itself, and are written only when they change)
            stored = self.db.execute("INSERT INTO stories (id, first_seen, last_seen, articles) VALUES (?, ?, ?, 1) "
                                     "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, "
                                     "articles = articles + 1 RETURNING alerted_rules", [story, iso(now), iso(now)]
                                     ).fetchone()[0]
            from monitor.decide.alerts import claim

            claimed, follow_ups, alerted = claim(hits, set(json.loads(stored or "[]")), story_id)
            for reason in follow_ups:
                self._suppress(now, "alert", article_id, story, item.url, reason)
            for hit, alert in claimed:
                self._insert_hit(article_id, hit, alert, now)
            if (alerted_rules := json.dumps(sorted(alerted))) != stored:
                self.db.execute("UPDATE stories SET alerted_rules = ? WHERE id = ?", [alerted_rules, story])
            for note in notes:
                self._suppress(now, "alert", article_id, story, item.url, note)
        return article_id

    def add_source(self, article_id: int, article: Article, guid_key: str | None, url_key: str | None,
                   now: datetime, reason: str) -> bool:
        """Record a copy of a stored article as another source of it; False when already known."""
        item = article.item
        with self.transaction():
            row = self.db.execute(
                "INSERT INTO sources (article_id, url, url_key, guid_key, feed_url, feed_name, title, first_seen, "
                "reason, outlet_url) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                [article_id, item.url, url_key, guid_key, item.feed_url, item.outlet, article.title, iso(now),
                 reason, item.source_url]).fetchone()
            if row is None:
                return False
            story = self.db.execute("SELECT story FROM articles WHERE id = ?", [article_id]).fetchone()[0]
            self._suppress(now, "copy", article_id, story, item.url, reason)
        return True

    def update_article(self, article_id: int, article: Article, hits: Sequence[Hit], now: datetime, *,
                       fingerprint: int | None, features: dict | None, facts: dict | None,
                       item_hash: str | None) -> None:
        """Replace an article's text after its publisher changed it; new hits never alert."""
        with self.transaction():
            story = self.db.execute("SELECT story FROM articles WHERE id = ?", [article_id]).fetchone()[0]
            self.db.execute(
                "UPDATE articles SET title = ?, summary = ?, text = ?, text_source = ?, text_note = ?, "
                "fingerprint = ?, story_features = ?, release_facts = coalesce(?, release_facts), item_hash = ?, "
                "updated = ?, page_checked = ?, updates = coalesce(updates, 0) + 1 WHERE id = ?",
                [article.title, _summary(article), article.text, article.text_source, article.note,
                 _signed(fingerprint), _json(features), _json(facts), item_hash, iso(now), iso(now), article_id])
            for hit in hits:
                self._insert_hit(article_id, hit, False, now)
            self._suppress(now, "update", article_id, story, article.item.url,
                           "the publisher changed the article: text replaced, nothing alerted again")

    def search(self, match: str, since: datetime | None = None, feed: str | None = None,
               limit: int = 20) -> list[dict]:
        """Stored articles matching an FTS5 expression (monitor.search.to_match), newest first seen first;
        `feed` is a feed's name or URL. Each: id, url, title, text, feed_name, published, first_seen."""
        where, args = ["id IN (SELECT rowid FROM article_search WHERE article_search MATCH ?)"], [match]
        if since is not None:
            where.append("first_seen >= ?")
            args.append(iso(since))
        if feed is not None:
            where.append("(feed_name = ? OR feed_url = ?)")
            args += [feed, feed]
        # Only the rows shown are read whole: first_seen lies after the text in a row, so sorting full rows
        # would read every match's text. Which way the newest matches are picked depends on how many there are
        # (counted by FTS5 up to SEARCH_FEW): many are met soon walking the first_seen index from the newest;
        # a few are sorted from their own rows (~5 µs each), as that walk would cross the whole index to find
        # them (1,000,000 stored: ~70 ms CPU, more from disk, for a word found in no article).
        try:
            few = len(self.db.execute("SELECT rowid FROM article_search WHERE article_search MATCH ? LIMIT ?",
                                      [match, SEARCH_FEW + 1]).fetchall()) <= SEARCH_FEW
            # NOT INDEXED: the matches' rows are reached by rowid, not by walking the first_seen index
            newest = "NOT INDEXED" if few else "INDEXED BY idx_articles_first_seen"
            return list(self.db.query(
                "SELECT id, coalesce(canonical_url, url) AS url, title, coalesce(text, summary) AS text, feed_name, "
                f"published, first_seen FROM articles WHERE id IN (SELECT id FROM articles {newest} "
                f"WHERE {' AND '.join(where)} ORDER BY first_seen DESC, id DESC LIMIT ?) "
                "ORDER BY first_seen DESC, id DESC", [*args, limit]))
        except sqlite3.OperationalError as exc:  # an expression FTS5 refuses: a bug in to_match, said plainly
            raise ValueError(f"search expression {match!r} refused by SQLite: {exc}") from None

    def mark_checked(self, article_id: int, item_hash: str, now: datetime) -> None:
        """The article was looked at again and its text had not changed."""
        with self.transaction():
            self.db.execute("UPDATE articles SET item_hash = ?, page_checked = ? WHERE id = ?",
                            [item_hash, iso(now), article_id])

    def _insert_hit(self, article_id: int, hit: Hit, alert: bool, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO hits (article_id, rule, evidence, snippet, why, alert, first_seen, words) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            [article_id, hit.rule, json.dumps([e.__dict__ for e in hit.evidence], ensure_ascii=False),
             hit.snippet, hit.why, int(alert), iso(now), json.dumps(hit.words, ensure_ascii=False)])

    def _suppress(self, now: datetime, kind: str, article_id: int, story: str | None, url: str | None,
                  reason: str) -> None:
        self.db.execute("INSERT INTO suppressions (at, kind, article_id, story, url, reason) VALUES (?,?,?,?,?,?)",
                        [iso(now), kind, article_id, story, url, reason])
