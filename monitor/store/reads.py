"""What the read commands ask: release stories and the release ledger, hits, articles and counts."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator, Sequence
from datetime import datetime

from monitor.store.common import _HIT_COLUMNS, _chunks, iso


class Reads:
    """The read commands' queries: release stories, the release ledger, hits, articles, counts.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

    # release facts are read from the partial index articles_release_facts (migration 015): the column sits
    # after the article's text in each row, so reading it from the table walks the text's overflow pages
    _RELEASE_STORY_IDS = "SELECT story FROM articles WHERE release_facts IS NOT NULL"
    # the newest release stories (migration 020): the newest N of the release ledger by its first date, and the
    # stories the ledger leaves out, those whose facts are not JSON (none unless a bug or a hand wrote them);
    # among these are the newest N of every release story, whose first dates the ledger holds as `stories` does
    _NEWEST_RELEASE_STORIES = (
        "SELECT story FROM (SELECT story FROM release_ledger INDEXED BY release_ledger_newest {since} "
        "ORDER BY first_seen DESC, story DESC LIMIT ?) UNION SELECT story FROM articles INDEXED BY "
        "articles_release_unreadable WHERE release_facts IS NOT NULL AND NOT json_valid(release_facts)")

    def release_stories(self, limit: int | None = None, since: datetime | None = None) -> list[dict]:
        """Stories with at least one article reporting a release, oldest first: their first headline and URL,
        when first seen, how many reports (copies included), and every release fact their articles gave.
        `limit`: only the newest that many (by first seen); `since`: only stories first seen since then."""
        where, params, order = [f"s.id IN ({self._RELEASE_STORY_IDS})"], [], ""
        if limit is not None:  # among the candidates only: not every release story sorted for the newest few
            where = [f"s.id IN ({self._NEWEST_RELEASE_STORIES.format(since='WHERE first_seen >= ?' if since else '')})"]
            params = [iso(since), limit] if since is not None else [limit]
        if since is not None:
            where.append("s.first_seen >= ?")
            params.append(iso(since))
        if limit is not None:
            order = "ORDER BY s.first_seen DESC, s.id DESC LIMIT ?"
            params.append(limit)
        # the stories are chosen first, then only theirs are counted
        rows = list(self.db.query(
            "SELECT r.id AS story, r.first_seen, r.alerted_rules, "
            "(SELECT count(*) FROM articles WHERE story = r.id) + (SELECT count(*) FROM sources src "
            " JOIN articles a ON a.id = src.article_id WHERE a.story = r.id) AS sources "
            f"FROM (SELECT s.id, s.first_seen, s.alerted_rules FROM stories s WHERE {' AND '.join(where)} {order}) r "
            "ORDER BY r.first_seen, r.id", params))
        ids = [row["story"] for row in rows]
        firsts, facts = self._first_reports(ids), self._release_facts(ids)
        return [{**row, "title": firsts[row["story"]]["title"], "url": firsts[row["story"]]["url"],
                 "alerted": bool(json.loads(row["alerted_rules"] or "[]")), "facts": facts[row["story"]]}
                for row in rows]

    def count_release_stories(self, since: datetime | None = None) -> int:
        """How many stories have an article reporting a release (first seen since `since`)."""
        return self.db.execute(f"SELECT count(*) FROM stories WHERE id IN ({self._RELEASE_STORY_IDS}) "
                               "AND first_seen >= ?", [iso(since) if since else ""]).fetchone()[0]

    def release_ledger(self) -> tuple[tuple[int, int, str | None], list[dict]]:
        """The release ledger's running totals: (stories, people, earliest date) summed in SQL for every story
        reported by one article whose count is plain (a number, or at most one name); the other stories, whose
        facts must be merged (monitor.decide.merge.merged_facts: the most reported number, names spelled
        several ways counted once), as release_stories gives them. Read from the per-story ledger the writes
        keep (migration 017), along one index: no release report is grouped or joined at read time, and the plain
        totals are kept too (migration 022): nothing here walks every release story."""
        # the totals kept by migration 022's triggers; summed as before while a plain row's people is not an integer
        count, people, odd = self.db.execute("SELECT stories, people, odd FROM release_totals WHERE id = 1").fetchone()
        if odd:
            count, people = self.db.execute(
                "SELECT count(*), coalesce(sum(people), 0) FROM release_ledger WHERE simple = 1").fetchone()
        first = self.db.execute("SELECT min(day) FROM release_ledger WHERE simple = 1").fetchone()[0]  # one seek
        others = sorted(({"story": story, "first_seen": seen} for story, seen in self.db.execute(
                            "SELECT story, first_seen FROM release_ledger WHERE simple = 0")),
                        key=lambda o: (o["first_seen"] is not None, o["first_seen"] or "", o["story"]))
        facts = self._release_facts([o["story"] for o in others])
        return (count, people, first), [{**o, "facts": facts[o["story"]]} for o in others]

    def _first_reports(self, stories: Sequence[str]) -> dict[str, dict]:
        """Per story, the title and URL of its first article."""
        first: dict[str, dict] = {}
        for chunk in _chunks(stories):
            for row in self.db.query(
                    "SELECT story, title, coalesce(canonical_url, url) AS url FROM articles "
                    f"WHERE story IN ({', '.join('?' * len(chunk))}) ORDER BY story, first_seen, id", chunk):
                first.setdefault(row["story"], row)
        return first

    def _release_facts(self, stories: Sequence[str]) -> dict[str, list[dict]]:
        """Per story, the release facts its articles gave, oldest article first."""
        facts: dict[str, list[dict]] = {story: [] for story in stories}
        for chunk in _chunks(stories):
            for story, stored in self.db.execute(
                    "SELECT story, release_facts FROM articles INDEXED BY articles_release_facts "
                    f"WHERE release_facts IS NOT NULL AND story IN ({', '.join('?' * len(chunk))}) "
                    "ORDER BY story, first_seen, id", chunk):
                facts[story].append(json.loads(stored))
        return facts

    def suppressions(self, pending_digest: bool = False) -> list[dict]:
        where = "WHERE digest_message IS NULL" if pending_digest else ""
        return list(self.db.query(f"SELECT * FROM suppressions {where} ORDER BY id"))

    def hits(self, since: datetime | None = None, rule: str | None = None) -> list[dict]:
        """Stored hits, one row per article, oldest first, with their rule names."""
        where, params = ["1 = 1"], {}
        if since is not None:
            where.append("h.first_seen >= :since")
            params["since"] = iso(since)
        if rule is not None:
            where.append("a.id IN (SELECT article_id FROM hits WHERE rule = :rule)")
            params["rule"] = rule
        return self._hit_rows(" AND ".join(where), params, order="ORDER BY a.first_seen, a.id")

    def hits_of_latest_stories(self, since: datetime, stories: int) -> list[dict]:
        """The rows of `hits(since)` of the stories an Atom feed of `stories` entries shows: those whose newest
        hitting article (first seen) is among the `stories` newest, ties included (monitor.atom.hits_feed sorts
        stories so, and given these rows gives the very feed it gives from every row of the window).
        Found by walking the window's hits newest first, reading their articles' story and first_seen, until no
        story still unseen can rank: a hit is stored with or after its article, so every article still to come
        was first seen no later than the hit reached. Then only those stories' rows are read: a cycle that
        stored hits rewrites the feed from a few hundred stories, not from 30 days of hits."""
        newest: dict[str, str] = {}  # story key (as hits_feed keys it) -> its newest hitting article's first_seen
        keyed: dict[str, int] = {}  # keys that are an article's id (no story): that article
        # the `stories`-th largest of each story's first value met: never above the true rank's value (a
        # story's value only grows), so stopping below it is safe; the exact rank is taken at the end
        floor: list[str] = []
        for reached, article_id, story, seen in self.db.execute(
                "SELECT h.first_seen, a.id, a.story, a.first_seen FROM hits h INDEXED BY hits_first_seen "
                "JOIN articles a ON a.id = h.article_id WHERE h.first_seen >= ? ORDER BY h.first_seen DESC",
                [iso(since)]):
            if len(floor) == stories and reached < floor[0]:
                break
            key = str(story or article_id)
            if key not in newest:
                (heapq.heappush if len(floor) < stories else heapq.heappushpop)(floor, seen)
                if not story:
                    keyed[key] = article_id
            if seen > newest.get(key, ""):
                newest[key] = seen
        if len(newest) > stories:
            rank = heapq.nlargest(stories, newest.values())[-1]
            newest = {key: seen for key, seen in newest.items() if seen >= rank}
        if not newest:
            return []
        # a key that is an article's id (its story unset) is also looked up as a story: hits_feed puts both together
        ids = [keyed[key] for key in newest if key in keyed]
        rows = []
        for chunk in _chunks(list(newest)):  # the stories' articles from the story index; then their window hits
            rows += self._hit_rows("h.first_seen >= ? AND a.id IN (SELECT id FROM articles INDEXED BY "
                                   f"idx_articles_story WHERE story IN ({', '.join('?' * len(chunk))}))",
                                   [iso(since), *chunk])
        for chunk in _chunks(ids):
            rows += self._hit_rows(f"h.first_seen >= ? AND a.id IN ({', '.join('?' * len(chunk))})",
                                   [iso(since), *chunk])
        return sorted({row["id"]: row for row in rows}.values(), key=lambda r: (r["first_seen"], r["id"]))  # as hits()

    def _hit_rows(self, where: str, params: list | dict, order: str = "") -> list[dict]:
        """Hit records, one per article: the article's columns a record shows (monitor.records), not a.*: its
        text is most of the row, and reading it for every hit of a window cost ~6x the rest."""
        return [self._hit_row(r) for r in self.db.query(
            f"SELECT {_HIT_COLUMNS}, group_concat(h.rule, char(31)) AS rules, min(h.first_seen) AS hit_first_seen, "
            "max(h.alert_message IS NOT NULL) AS alerted, "
            "(SELECT snippet FROM hits WHERE article_id = a.id ORDER BY rule LIMIT 1) AS snippet "
            f"FROM hits h JOIN articles a ON a.id = h.article_id WHERE {where} GROUP BY a.id {order}", params)]

    @staticmethod
    def _hit_row(r: dict) -> dict:
        return {**r, "rules": sorted(r["rules"].split("\x1f")) if r["rules"] else [],
                "alerted": bool(r["alerted"])}

    def articles(self, since: datetime | None = None) -> Iterator[dict]:
        """Stored articles (id, url, title, text, first_seen), oldest first, for backtests."""
        yield from self.db.query(
            "SELECT id, coalesce(canonical_url, url) AS url, title, text, first_seen FROM articles "
            "WHERE first_seen >= :since ORDER BY first_seen, id", {"since": iso(since) if since else ""})

    def count_articles(self, since: datetime | None = None) -> int:
        return self.db.execute("SELECT count(*) FROM articles WHERE first_seen >= ?",
                               [iso(since) if since else ""]).fetchone()[0]

    def article_ids_with(self, rule: str, since: datetime | None = None) -> set[int]:
        return {r["article_id"] for r in self.db.query(
            "SELECT h.article_id FROM hits h JOIN articles a ON a.id = h.article_id "
            "WHERE h.rule = :rule AND a.first_seen >= :since", {"rule": rule, "since": iso(since) if since else ""})}

    def counts(self) -> dict[str, int]:
        return {t: self.db[t].count for t in ("feeds", "articles", "hits", "messages", "deliveries")}
