"""The store's one connection: opening it (WAL, pragmas), write transactions with their batched search
indexing, and the schema's migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from sqlite_utils import Database

from monitor.migrations import INDEX_PENDING, MIGRATIONS, SEARCH_FOLD, SEARCH_PENDING
from monitor.search import searchable
from monitor.store.common import WAL_SIZE_LIMIT, iso


class Connection:
    """Opens the database, runs write transactions and migrations: the connection every part uses."""

    def __init__(self, db: Database):
        self.db = db
        db.conn.isolation_level = None  # we open transactions ourselves, with BEGIN IMMEDIATE
        # the search index's triggers fold an article's text with the rules' folding (migrations._search_index)
        db.conn.create_function(SEARCH_FOLD, -1, searchable, deterministic=True)
        self._search_pending = False  # articles written in this transaction wait for the search index
        self._batched_search = False  # migration 018 found applied (before it, the triggers index each article)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taking the write lock up front so a busy database waits, not fails.
        Inside another, a savepoint: always of one name (SQLite nests same-named savepoints), so the
        statement stays in the connection's cache; a fresh random name per call evicted other statements."""
        conn = self.db.conn
        if conn.in_transaction:
            conn.execute("SAVEPOINT nested")
            try:
                yield
            except BaseException:
                if conn.in_transaction:  # an error may already have ended the whole transaction
                    conn.execute("ROLLBACK TO SAVEPOINT nested")
                    conn.execute("RELEASE SAVEPOINT nested")
                raise
            conn.execute("RELEASE SAVEPOINT nested")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            if self._search_pending:
                self._index_pending()
        except BaseException:
            conn.rollback()
            self._search_pending = False
            raise
        conn.execute("COMMIT")

    def _index_pending(self) -> None:
        """Index the articles written since the last time, in one statement (migrations._018_search_batched)."""
        self._search_pending = False
        if not self._batched_search:  # a store not migrated yet (tests write through Store to older schemas)
            self._batched_search = bool(self.db.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                                                        [SEARCH_PENDING]).fetchone())
            if not self._batched_search:
                return
        self.db.execute(INDEX_PENDING)
        self.db.execute(f"DELETE FROM {SEARCH_PENDING}")

    @classmethod
    def open(cls, path: Path) -> Self:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        db = Database(conn)
        if not db.execute("PRAGMA page_count").fetchone()[0]:
            # a new database frees deleted pages in steps (Store.reclaim). Only a new one: on an existing database
            # this pragma waits for the write lock, so a reader (`status --check`, the container's healthcheck)
            # opened while the service sat in a write transaction would fail with "database is locked"
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: no corruption on a crash, one fsync per checkpoint
        # the log is reused from its start after each checkpoint, and cut back to this size then: one large cycle
        # does not leave a large file behind while the service keeps the database open
        db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        store = cls(db)
        store.migrate()
        return store

    @classmethod
    def memory(cls) -> Self:
        store = cls(Database(memory=True))
        store.migrate()
        return store

    def close(self) -> None:
        self.db.conn.close()

    def path(self) -> Path | None:
        """The database file, or None for one in memory."""
        name = next((row[2] for row in self.db.execute("PRAGMA database_list") if row[1] == "main"), "")
        return Path(name) if name else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
