"""Messages: the hits and stories a digest or alert shows, read as typed items, and messages saved
with their deliveries queued."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby

from monitor.models import Message, MessageItem
from monitor.store.common import _ITEM_ARTICLE, _ITEM_COLUMNS, _ITEM_ORDER, SOURCES_LISTED, _chunks


class MessageRows:
    """The items a digest or alert shows, and messages saved with their deliveries queued.
    Part of `Store` (monitor.store), through whose connection (`self.db`, `self.transaction`) it runs."""

    def pending_items(self, kind: str, sentences: bool = True) -> tuple[list[MessageItem], list[int]]:
        """Items not yet sent as `kind`: alert-flagged hits for "alert", every hit for "digest". `sentences`
        false: without each hit's sentence and why (snippet, why and the reasons' sentences are empty), the
        widest columns and all that placing and counting stories does without; `with_sentences` adds them to
        the items a message shows (a day's digest at 1,000,000 stored articles: 14,854 items, a few dozen
        shown)."""
        column = "alert_message" if kind == "alert" else "digest_message"
        extra = "AND h.alert = 1" if kind == "alert" else ""
        return self._message_items(f"h.{column} IS NULL {extra}", [], sentences)

    def with_sentences(self, items: Sequence[MessageItem]) -> list[MessageItem]:
        """`items` read without their sentences (pending_items), as a read with them gives them."""
        found: dict[tuple[int, str], tuple[str | None, str | None]] = {}
        for chunk in _chunks(sorted({i.article_id for i in items})):
            for article_id, rule, snippet, why in self.db.execute(
                    "SELECT article_id, rule, snippet, why FROM hits "
                    f"WHERE article_id IN ({', '.join('?' * len(chunk))})", chunk):
                found[article_id, rule] = snippet, why
        out = []
        for item in items:
            texts = [found[item.article_id, rule] for rule, _, _ in item.reasons]
            pairs = list(zip(item.reasons, texts, strict=True))
            reasons = tuple((rule, snippet or "", ws) for (rule, _, ws), (snippet, _) in pairs)
            why = "\n".join(f"{rule}: {w}" for (rule, _, _), (_, w) in pairs if w)  # one rule: "rule: why" or ""
            out.append(MessageItem.of(**{**vars(item), "snippet": reasons[0][1], "why": why, "reasons": reasons}))
        return out

    def story_items(self, story: str, alerting: bool = True) -> list[MessageItem]:
        """The items of one story as its alert carries them, sent or not: its alert-flagged hits (`alerting`),
        or every hit of it."""
        return self._message_items("a.story = ?" + (" AND h.alert = 1" if alerting else ""), [story])[0]

    def _message_items(self, where: str, params: list, sentences: bool = True
                       ) -> tuple[list[MessageItem], list[int]]:
        # the article columns an item carries, not a.*: the texts (~5 KB each) would be read for nothing. Rows as
        # tuples, and each distinct words list parsed once: a day of ~20,000 hits repeats a few hundred of them.
        # Sorted here, not by an ORDER BY: SQLite's sorter copies every wide row (snippet and why, ~640
        # characters) into a temporary b-tree, ~30 ms for a day of 21,482 hits; the key is the same (text
        # compares alike as UTF-8 bytes and as code points, and an article has one hit per rule).
        rows = self.db.execute(
            f"SELECT h.id, h.rule, {'h.snippet' if sentences else 'NULL'}, h.alert_message, h.words, "
            f"{'h.why' if sentences else 'NULL'}, {_ITEM_COLUMNS}, a.release_facts "
            f"FROM hits h JOIN articles a ON a.id = h.article_id WHERE {where}", params).fetchall()
        rows.sort(key=_ITEM_ORDER)  # a.first_seen, a.id, h.rule
        groups = [list(group) for _, group in groupby(rows, key=_ITEM_ARTICLE)]  # an article's rows are together
        parsed: dict[str | None, tuple[str, ...]] = {}
        unique: dict[str | None, tuple[str, ...]] = {}

        def words(stored: str | None) -> tuple[str, ...]:
            found = parsed.get(stored)
            if found is None:
                found = parsed[stored] = tuple(json.loads(stored or "[]"))
            return found

        read: dict[str, list[tuple]] = {}  # per story, the reports of it these rows hold, as _story_context reads them
        for group in groups:
            *_, canonical_url, url, feed_name, _, _, stored_story, _, outlet_url, release_facts = group[0]
            if stored_story:
                report = (feed_name, url if canonical_url is None else canonical_url, release_facts, outlet_url)
                found = read.get(stored_story)
                if found is None:
                    read[stored_story] = [report]
                else:
                    found.append(report)
        sources, facts, announced, counts = self._story_context(read.keys(), read)
        items = []
        for group in groups:
            (_, rule, snippet, alert_message, stored_words, why, article_id, title, canonical_url, url, feed_name,
             published, first_seen, stored_story, text_source, outlet_url, _) = group[0]
            story = stored_story or str(article_id)
            told = announced.get(story)
            if len(group) == 1:  # most articles hit one rule
                matched = unique.get(stored_words)
                if matched is None:
                    matched = unique[stored_words] = tuple(dict.fromkeys(words(stored_words)))
                reasons = ((rule, snippet or "", words(stored_words)),)
                rules, alerted, why = (rule,), bool(alert_message), f"{rule}: {why}" if why else ""
                # a follow-up: its story was announced by a message that did not carry this article
                followup = told is not None and told != alert_message
            else:
                reasons = tuple((g[1], g[2] or "", words(g[4])) for g in group)
                matched = tuple(dict.fromkeys(w for reason in reasons for w in reason[2]))
                rules, alerted = tuple(sorted({g[1] for g in group})), any(g[3] for g in group)
                why = "\n".join(f"{g[1]}: {g[5]}" for g in group if g[5])
                followup = told is not None and told not in {g[3] for g in group}
            items.append(MessageItem.of(  # the fields in their order: vars() as __init__ gives it
                article_id=article_id, title=title or "(untitled)", url=canonical_url or url or "",
                feed=feed_name or "", published=published, first_seen=first_seen, rules=rules, story=story,
                snippet=snippet or "", text_source=text_source or "page", alerted=alerted, matched=matched, why=why,
                sources=sources.get(story, ()), facts=facts.get(story, ()), followup=followup, reasons=reasons,
                outlet_url=outlet_url, announced=told, sources_count=counts.get(story, 0)))
        return items, [row[0] for row in rows]

    def _story_context(self, stories: Iterable[str], read: Mapping[str, list[tuple]] | None = None
                       ) -> tuple[dict, dict, dict, dict]:
        """Per story: its first reports (feed, url, outlet url) incl. copies, up to SOURCES_LISTED, and how many
        there are; its articles' release facts; whether an earlier message already announced it. Read a few
        hundred stories per query (a digest has ~1,500 stories: four queries each cost more than its queries).
        `read`: reports of some stories the caller has read already ((feed, url, facts, outlet url), oldest
        first): a story the story index says has no other article is not read again (a day's digest: most).
        A story without rows is left out of each dict (the caller's .get gives what an empty entry gave).
        Each distinct facts text is parsed once (a story's reports often repeat their facts)."""
        read = read or {}
        reports: dict[str, list] = {}
        copies: dict[str, list] = {}
        announced: dict[str, str | None] = {}
        for chunk in _chunks(sorted(stories)):
            marks = ", ".join("?" * len(chunk))
            members = dict(self.db.execute(f"SELECT story, count(*) FROM articles INDEXED BY idx_articles_story "
                                           f"WHERE story IN ({marks}) GROUP BY story", chunk))
            others = []
            for story in chunk:
                known = read.get(story)
                if known is not None and len(known) == members.get(story):
                    reports[story] = known
                else:
                    others.append(story)
            for part in _chunks(others) if others else ():
                for story, *row in self.db.execute(
                        "SELECT story, feed_name, coalesce(canonical_url, url), release_facts, outlet_url FROM "
                        f"articles WHERE story IN ({', '.join('?' * len(part))}) ORDER BY story, first_seen, id",
                        part):
                    found = reports.get(story)
                    if found is None:
                        reports[story] = [row]
                    else:
                        found.append(row)
            for story, *row in self.db.execute(
                    "SELECT a.story, s.feed_name, s.url, s.outlet_url FROM sources s JOIN articles a ON a.id = "
                    f"s.article_id WHERE a.story IN ({marks}) ORDER BY a.story, s.first_seen, s.id", chunk):
                copies.setdefault(story, []).append(row)
            announced.update(self.db.execute(f"SELECT id, announced FROM stories WHERE id IN ({marks}) "
                                             "AND announced IS NOT NULL", chunk))
        sources: dict[str, tuple] = {}
        facts: dict[str, tuple] = {}
        counts: dict[str, int] = {}
        parsed: dict[str, dict] = {}

        def parse(stored: str) -> dict:
            found = parsed.get(stored)
            if found is None:
                found = parsed[stored] = json.loads(stored)
            return found

        for story in reports.keys() | copies.keys() if copies else reports:
            rows, copied = reports.get(story, ()), copies.get(story, ())
            counts[story] = len(rows) + len(copied)
            listed = [(feed or "", url or "", outlet) for feed, url, _, outlet in rows[:SOURCES_LISTED]]
            if copied:
                room = SOURCES_LISTED - len(listed)
                listed += [(feed or "", url or "", outlet) for feed, url, outlet in copied[:room]]
            sources[story] = tuple(listed)
            stored_facts = [parse(stored) for _, _, stored, _ in rows if stored]
            if stored_facts:
                facts[story] = tuple(stored_facts)
        return sources, facts, announced, counts

    def save_message(self, message: Message, hit_ids: Sequence[int], channels: Sequence[str],
                     suppression_ids: Sequence[int] = ()) -> None:
        """Record a message, claim its hits (and the suppression log lines it reports) for it, mark its
        stories announced, and queue one delivery per channel, atomically."""
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
                                              "status": "pending", "attempts": 0, "queued": message.created})
            # a few hundred stories a statement: a day's digest announces ~15,000 (one statement each cost ~0.2 s)
            for chunk in _chunks(sorted({item.story for item in message.items})):
                self.db.execute(f"UPDATE stories SET announced = ? WHERE id IN ({', '.join('?' * len(chunk))}) "
                                "AND announced IS NULL", [message.id, *chunk])
            for row_id in suppression_ids:
                self.db.execute("UPDATE suppressions SET digest_message = ? WHERE id = ?", [message.id, row_id])
