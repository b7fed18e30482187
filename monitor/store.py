"""Every SQL statement of news-monitor, through sqlite-utils: feeds' poll state, articles (unique by
GUID key and normalised URL), hits (unique per article and rule), messages and their deliveries.

The database runs in WAL mode; its schema changes only through `migrations.py`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from monitor.migrations import MIGRATIONS
from monitor.models import Article, Feed, Hit, Message, MessageItem
from monitor.polling import FeedState, PollDecision


def iso(moment: datetime) -> str:
    """Timestamps are stored as UTC ISO 8601 strings, which sort as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Delivery:
    message_id: str
    channel: str
    attempts: int
    kind: str
    subject: str
    text: str
    html: str
    data: dict


class Store:
    """One connection to the monitor database. Open one per thread; close when done."""

    def __init__(self, db: Database):
        self.db = db
        db.conn.isolation_level = None  # we open transactions ourselves, with BEGIN IMMEDIATE

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front so a busy database waits, not fails."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.conn.rollback()
            raise
        self.db.conn.execute("COMMIT")

    @classmethod
    def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db = Database(conn)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no corruption on a crash, one fsync per checkpoint
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        store = cls(db)
        store.migrate()
        return store

    @classmethod
    def memory(cls) -> Store:
        store = cls(Database(memory=True))
        store.migrate()
        return store

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; return their names."""
        if "_migrations" not in self.db.table_names():
            self.db["_migrations"].create({"name": str, "applied": str}, pk="name", if_not_exists=True)
        done = {row["name"] for row in self.db["_migrations"].rows}
        applied = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():
                if name not in {r["name"] for r in self.db["_migrations"].rows}:  # another process won
                    step(self.db)
                    self.db["_migrations"].insert({"name": name, "applied": iso(datetime.now(UTC))})
                    applied.append(name)
        return applied

    # -- feeds --------------------------------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[Feed]) -> None:
        """Make the feeds table hold the configured feeds; new ones are due at once."""
        with self.transaction():
            for feed in feeds:
                self.db.execute("INSERT INTO feeds (url, name) VALUES (?, ?) "
                                "ON CONFLICT(url) DO UPDATE SET name = excluded.name", [feed.url, feed.name])

    def due_feeds(self, now: datetime, urls: Iterable[str] | None = None, force: bool = False) -> list[FeedState]:
        """Enabled feeds whose next check has come (all enabled ones when `force`), limited to `urls`."""
        rows = self.db.query("SELECT * FROM feeds WHERE disabled = 0 AND "
                             "(:force OR next_check IS NULL OR next_check <= :now) ORDER BY url",
                             {"force": int(force), "now": iso(now)})
        wanted = set(urls) if urls is not None else None
        return [FeedState(url=r["url"], name=r["name"], fetch_url=r["fetch_url"] or r["url"], etag=r["etag"],
                          last_modified=r["last_modified"], body_hash=r["body_hash"],
                          last_full_fetch=r["last_full_fetch"], errors=r["errors"] or 0, next_check=r["next_check"])
                for r in rows if wanted is None or r["url"] in wanted]

    def record_poll(self, url: str, now: datetime, decision: PollDecision) -> None:
        """Store one poll's outcome: validators and body hash on success; the error, its count and
        when failing began otherwise; a permanent move; a disabling."""
        with self.transaction():
            if decision.ok:
                self.db.execute(
                    "UPDATE feeds SET last_checked = :now, last_ok = :now, next_check = :next, errors = 0, "
                    "last_error = NULL, failing_since = NULL, etag = coalesce(:etag, etag), "
                    "last_modified = coalesce(:lm, last_modified), body_hash = coalesce(:hash, body_hash), "
                    "last_full_fetch = CASE WHEN :full THEN :now ELSE last_full_fetch END WHERE url = :url",
                    {"now": iso(now), "next": iso(decision.next_check), "etag": decision.etag,
                     "lm": decision.last_modified, "hash": decision.body_hash, "full": int(decision.full_fetch),
                     "url": url})
            else:
                self.db.execute(
                    "UPDATE feeds SET last_checked = :now, next_check = :next, errors = errors + 1, "
                    "last_error = :error, failing_since = coalesce(failing_since, :now), "
                    "disabled = CASE WHEN :disable IS NULL THEN disabled ELSE 1 END, "
                    "disabled_reason = coalesce(:disable, disabled_reason) WHERE url = :url",
                    {"now": iso(now), "next": iso(decision.next_check), "error": (decision.error or "")[:2000],
                     "disable": decision.disable, "url": url})
            if decision.moved_to:
                self.db.execute("UPDATE feeds SET fetch_url = ? WHERE url = ?", [decision.moved_to, url])

    def feed_health(self) -> list[dict]:
        return list(self.db.query("SELECT url, name, fetch_url, last_checked, last_ok, last_error, errors, "
                                  "next_check, failing_since, disabled, disabled_reason FROM feeds ORDER BY name"))

    # -- articles and hits ----------------------------------------------------------------------

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these GUID keys or URL keys already name a stored article."""
        keys = list({k for k in keys if k})
        found: set[str] = set()
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            marks = ",".join("?" * len(chunk))
            for row in self.db.query(f"SELECT guid_key, url_key FROM articles WHERE guid_key IN ({marks}) "
                                     f"OR url_key IN ({marks})", chunk + chunk):
                found.update(k for k in (row["guid_key"], row["url_key"]) if k)
        return found

    def add_article(self, article: Article, guid_key: str | None, url_key: str | None,
                    hits: Sequence[Hit], now: datetime) -> int | None:
        """Insert the article and its hits in one transaction; None when it was already stored."""
        item = article.item
        with self.transaction():
            row = self.db.execute(
                "INSERT INTO articles (guid_key, url_key, guid, url, canonical_url, feed_url, feed_name, "
                "title, summary, text, text_source, text_note, language, published, first_seen) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                [guid_key, url_key, item.guid, item.url, article.canonical_url, item.feed_url,
                 item.feed_name, article.title, item.summary, article.text, article.text_source,
                 article.note, article.language, iso(item.published) if item.published else None,
                 iso(now)]).fetchone()
            if row is None:
                return None
            article_id = row[0]
            # until stories land, every article is its own story
            self.db.execute("UPDATE articles SET story = ? WHERE id = ?", [str(article_id), article_id])
            for hit in hits:
                self.db.execute(
                    "INSERT INTO hits (article_id, rule, evidence, snippet, why, alert, first_seen, words) "
                    "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    [article_id, hit.rule, json.dumps([e.__dict__ for e in hit.evidence], ensure_ascii=False),
                     hit.snippet, hit.why, int(hit.alert), iso(now), json.dumps(hit.words, ensure_ascii=False)])
        return article_id

    def hits(self, since: datetime | None = None, rule: str | None = None) -> list[dict]:
        """Stored hits, one row per article, oldest first, with their rule names."""
        where, params = ["1 = 1"], {}
        if since is not None:
            where.append("h.first_seen >= :since")
            params["since"] = iso(since)
        if rule is not None:
            where.append("a.id IN (SELECT article_id FROM hits WHERE rule = :rule)")
            params["rule"] = rule
        return [self._hit_row(r) for r in self.db.query(
            "SELECT a.*, group_concat(h.rule, char(31)) AS rules, min(h.first_seen) AS hit_first_seen, "
            "max(h.alert_message IS NOT NULL) AS alerted, "
            "(SELECT snippet FROM hits WHERE article_id = a.id ORDER BY rule LIMIT 1) AS snippet "
            f"FROM hits h JOIN articles a ON a.id = h.article_id WHERE {' AND '.join(where)} "
            "GROUP BY a.id ORDER BY a.first_seen, a.id", params)]

    @staticmethod
    def _hit_row(r: dict) -> dict:
        return {**r, "rules": sorted(r["rules"].split("\x1f")) if r["rules"] else [],
                "alerted": bool(r["alerted"])}

    def articles(self, since: datetime | None = None) -> Iterator[dict]:
        """Stored articles (id, url, title, text, first_seen), oldest first, for backtests."""
        yield from self.db.query(
            "SELECT id, coalesce(canonical_url, url) AS url, title, text, first_seen FROM articles "
            "WHERE first_seen >= :since ORDER BY first_seen, id", {"since": iso(since) if since else ""})

    def article_ids_with(self, rule: str, since: datetime | None = None) -> set[int]:
        return {r["article_id"] for r in self.db.query(
            "SELECT h.article_id FROM hits h JOIN articles a ON a.id = h.article_id "
            "WHERE h.rule = :rule AND a.first_seen >= :since", {"rule": rule, "since": iso(since) if since else ""})}

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("feeds", "articles", "hits", "messages", "deliveries")}

    # -- messages -----------------------------------------------------------------------------

    def pending_items(self, kind: str) -> tuple[list[MessageItem], list[int]]:
        """Items not yet sent as `kind`: alert-flagged hits for "alert", every hit for "digest"."""
        column = "alert_message" if kind == "alert" else "digest_message"
        extra = "AND h.alert = 1" if kind == "alert" else ""
        rows = list(self.db.query(
            f"SELECT h.id AS hit_id, h.rule, h.snippet, h.alert_message, h.words, h.why, a.* FROM hits h "
            f"JOIN articles a ON a.id = h.article_id WHERE h.{column} IS NULL {extra} "
            "ORDER BY a.first_seen, a.id, h.rule"))
        by_article: dict[int, list[dict]] = {}
        for row in rows:
            by_article.setdefault(row["id"], []).append(row)
        items = []
        for article_id, group in by_article.items():
            first = group[0]
            items.append(MessageItem(
                article_id=article_id, title=first["title"] or "(untitled)",
                url=first["canonical_url"] or first["url"] or "", feed=first["feed_name"] or "",
                published=first["published"], first_seen=first["first_seen"],
                rules=tuple(sorted({g["rule"] for g in group})), story=first["story"] or str(article_id),
                snippet=first["snippet"] or "", text_source=first["text_source"] or "page",
                alerted=any(g["alert_message"] for g in group),
                matched=tuple(dict.fromkeys(w for g in group for w in json.loads(g["words"] or "[]"))),
                why="\n".join(f"{g['rule']}: {g['why']}" for g in group if g["why"])))
        return items, [row["hit_id"] for row in rows]

    def save_message(self, message: Message, hit_ids: Sequence[int], channels: Sequence[str]) -> None:
        """Record a message, claim its hits for it and queue one delivery per channel, atomically."""
        column = "alert_message" if message.kind == "alert" else "digest_message"
        with self.transaction():
            self.db["messages"].insert({
                "id": message.id, "kind": message.kind, "created": message.created,
                "subject": message.subject, "text": message.text, "html": message.html,
                "json": json.dumps(message.data, ensure_ascii=False)})
            for start in range(0, len(hit_ids), 500):
                chunk = list(hit_ids[start:start + 500])
                self.db.execute(f"UPDATE hits SET {column} = ? WHERE id IN ({','.join('?' * len(chunk))})",
                                [message.id, *chunk])
            for channel in channels:
                self.db["deliveries"].insert({"message_id": message.id, "channel": channel,
                                              "status": "pending", "attempts": 0})

    def pending_deliveries(self, now: datetime, channels: Sequence[str]) -> list[Delivery]:
        """Deliveries not yet made whose retry time has come, for channels that still exist."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        rows = self.db.query(
            "SELECT d.message_id, d.channel, d.attempts, m.kind, m.subject, m.text, m.html, m.json "
            "FROM deliveries d JOIN messages m ON m.id = d.message_id "
            f"WHERE d.status = 'pending' AND d.channel IN ({marks}) "
            "AND (d.next_attempt IS NULL OR d.next_attempt <= ?) ORDER BY m.created, m.id",
            [*channels, iso(now)])
        return [Delivery(r["message_id"], r["channel"], r["attempts"], r["kind"], r["subject"], r["text"],
                         r["html"], json.loads(r["json"])) for r in rows]

    def record_delivery(self, message_id: str, channel: str, now: datetime, *, error: str | None = None,
                        retry_in: timedelta | None = None) -> None:
        with self.transaction():
            if error is None:
                self.db.execute("UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                                "last_error = NULL WHERE message_id = ? AND channel = ?",
                                [iso(now), message_id, channel])
            else:
                retry = iso(now + (retry_in or timedelta(minutes=5)))
                self.db.execute("UPDATE deliveries SET attempts = attempts + 1, last_error = ?, "
                                "next_attempt = ? WHERE message_id = ? AND channel = ?",
                                [error[:2000], retry, message_id, channel])

    def deliveries(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM deliveries ORDER BY message_id, channel"))
