"""The order of the stages, written once:

    due feeds | fetch feeds | parse | keep new (and changed) items | fetch pages | extract | match
              | decide (a copy? which story? a new release? which hits alert?) | store
              | keep the feeds' validators | alert (one message for the new alert hits)
              | deliver (every pending message, every channel)

and, once a day:  pending hits and suppressions | digest | deliver.

This module only orders the stages (parsing, matching, SQL and sending live in their own modules; each
question of "keep new" and "decide" has one module in monitor/decide/, tabled in its docstring) and
draws the failure lines: one feed's or one item's exception is its own error, and the cycle goes on.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor import polling
from monitor.clock import utcnow
from monitor.config import Config
from monitor.decide.limits import portion
from monitor.decide.new import item_hash, item_keys, sort_items, text_unchanged
from monitor.delivery import STALE_AFTER
from monitor.digest import Layout, build_message, ledger_line
from monitor.errors import FeedError, MonitorError
from monitor.models import Article, Feed, FeedItem, FeedProblems, Message, MessageItem, StoredArticle
from monitor.polling import FeedState
from monitor.publish import write_feeds
from monitor.store import Store

if TYPE_CHECKING:
    from monitor.channels import Sender
    from monitor.decide.decider import Decider, Decision
    from monitor.extract_pool import ExtractJob, ExtractPool
    from monitor.feeds import ParsedFeed
    from monitor.fetch import Fetcher, Outcome, Response
    from monitor.rules.book import RuleBook

# The edges (aiohttp, feedparser, trafilatura, the channels' libraries: ~0.6 s of CPU to import) are imported
# where a cycle or a delivery first uses them: building or previewing a digest and the read commands never do.

log = logging.getLogger("monitor.pipeline")
# Feeds fetched, parsed and processed together: bounds a cycle's memory (bodies, items, articles) by the batch,
# not by the number of feeds; 1,000 keeps the fetcher's 20-50 connections busy (one aiohttp session a batch).
BATCH_FEEDS = 1000
# New articles stored per transaction: one commit per 100 articles instead of one each (each article's writes
# are a savepoint of their own); the write lock is held ~0.1-0.3 s at a time
STORE_BATCH = 100
# (stage, done, total): how far a cycle is, per stage, for whoever shows it (the CLI draws it on a terminal)
Progress = Callable[[str, int, int], None]


_CLEAN = FeedProblems()  # a clean parse's problems (none), shared: a first poll of 30,000 feeds holds one, not 30,000
_PROBLEM_FIELDS = {"repair": ("repaired", "repair"), "item": ("items_failed", "item_error"),
                   "page": ("pages_failed", "page_error"), "extract": ("extracts_failed", "extract_error")}


@dataclass
class CycleReport:
    feeds_polled: int = 0
    feeds_not_modified: int = 0
    feed_errors: list[tuple[str, str]] = field(default_factory=list)
    items_seen: int = 0
    new_articles: int = 0
    copies: int = 0  # syndicated copies stored as other sources of an article
    updated: int = 0  # stored articles whose text the publisher changed
    joined: int = 0  # new articles that joined an existing story
    from_summary: int = 0
    pages_not_fetched: int = 0  # article pages that failed or were refused: their text is the feed summary
    hits: int = 0
    alerts: int = 0
    delivered: int = 0
    delivery_errors: list[str] = field(default_factory=list)
    item_errors: list[tuple[str, str]] = field(default_factory=list)  # (feed url, what failed for which item)
    held: int = 0  # items over their feed's limits, waiting for the next cycle
    problems: dict[str, FeedProblems] = field(default_factory=dict)  # per feed that had items this cycle

    def problem(self, feed_url: str, kind: str, error: str) -> None:
        """Count one `kind` ("repair", "item", "page", "extract") of problem for the feed, keeping the last error."""
        count, last = _PROBLEM_FIELDS[kind]
        found = self.problems.get(feed_url, FeedProblems())
        self.problems[feed_url] = replace(found, **{count: getattr(found, count) + 1, last: error[:500]})

    def counts(self) -> dict[str, int]:
        """The cycle's numbers, for its heartbeat and `status --json`."""
        return {"feeds_polled": self.feeds_polled, "feeds_not_modified": self.feeds_not_modified,
                "feeds_failed": len(self.feed_errors), "items_seen": self.items_seen,
                "new_articles": self.new_articles, "copies": self.copies, "updated": self.updated,
                "hits": self.hits, "alerts": self.alerts, "delivered": self.delivered,
                "delivery_errors": len(self.delivery_errors), "items_failed": len(self.item_errors)}

    def summary(self) -> str:
        return (f"{self.feeds_polled} feeds polled ({self.feeds_not_modified} not modified, "
                f"{len(self.feed_errors)} failed), {self.items_seen} items seen, "
                f"{self.new_articles} new articles ({self.from_summary} from summary, {self.joined} joined a "
                f"story), {self.copies} copies folded, {self.updated} updated, {self.hits} hits, "
                f"{self.alerts} alerts, {self.delivered} deliveries"
                + (f", {self.pages_not_fetched} pages not fetched" if self.pages_not_fetched else "")
                + (f", {len(self.item_errors)} items failed" if self.item_errors else "")
                + (f", {self.held} items held for the next cycle" if self.held else "")
                + (f", {len(self.delivery_errors)} delivery errors" if self.delivery_errors else ""))


@dataclass
class Pipeline:
    config: Config
    rules: Callable[[], RuleBook]  # the current rules (the service reloads them when files change)
    fetcher: Fetcher | None  # None (and no senders): a pipeline that only reads and renders (digest --dry-run)
    senders: Sequence[Sender]
    clock: Callable[[], datetime] = utcnow
    rule_errors: Callable[[], Sequence[str]] = tuple  # rule edits not applied, for the digest's health
    # the rules' names and descriptions in rule order (topic headings), when read apart from `rules`
    descriptions: Callable[[], Mapping[str, str]] | None = None
    extractor: ExtractPool | None = None  # None: extracted in this process (a pool of no workers, made when needed)
    decider: Decider | None = None  # built from the store on first use, then kept for the process
    batch_size: int = BATCH_FEEDS  # due feeds taken through the stages together
    progress: Progress | None = None  # told the cycle's counts per stage as they grow
    _pruned: datetime = field(default_factory=utcnow, init=False)  # when idle stories last left memory
    _counts: Counter = field(default_factory=Counter, init=False)  # this cycle's progress: stage -> done, total

    # -- the poll cycle ---------------------------------------------------------------------------

    def run_cycle(self, store: Store, force: bool = False, deliver: bool = True) -> CycleReport:
        """One cycle: every due feed (every feed when `force`) through every stage, then delivery (the
        service delivers in its own thread instead: a hung mail server must not hold up polling)."""
        report = CycleReport()
        feeds = _Feeds(self.config)
        store.sync_feed_names(feeds.names())
        due = store.due_rowids(self.clock(), urls=feeds, force=force, intervals=feeds.intervals())
        backlog = store.held_items(feeds)  # items earlier cycles held over the limits: after the new ones
        self._counts = Counter({"feeds fetched total": len(due), "feeds polled total": len(due)})
        held: list[FeedItem] = []
        with self.fetcher.kept_open():  # the batches share one HTTP session: their connections are kept
            self._batches(store, due, feeds, backlog, report, held)
        self._report_held(held, [item for _, item in backlog], report)
        try:
            self.queue_alerts(store, report)
        except Exception as exc:  # the hits stay unalerted and are tried next cycle; delivery goes on
            log.error("alert: could not build the alert message: %s: %s", type(exc).__name__, exc, exc_info=True)
        store.record_problems(report.problems, self.clock())  # an item the alert could not show is one of them
        self._publish(store, report)
        if deliver:
            self.deliver(store, report)
        return report

    def _batches(self, store: Store, due: Sequence[int], feeds: _Feeds,
                 backlog: Sequence[tuple[str, FeedItem]], report: CycleReport, held: list[FeedItem]) -> None:
        """The due feeds (row ids) through the stages a batch at a time: a cycle holds one batch's states,
        bodies and items, whatever the number of feeds (an item seen again in a later batch is known by then);
        a feed's backlog goes with its batch, the backlog of feeds not due this cycle with the first."""
        limits = self.config.limits
        due_urls = self._due_urls(store, due, backlog)
        for n, start in enumerate(range(0, max(len(due), 1), self.batch_size)):
            batch = store.feed_states(due[start:start + self.batch_size])
            urls = {state.url for state in batch}
            waiting = [entry for entry in backlog
                       if entry[1].feed_url in urls or (n == 0 and entry[1].feed_url not in due_urls)]
            items, parsed = self._poll(store, batch, feeds, report)
            fresh, changed = self._new_items(store, [*items, *(item for _, item in waiting)], report)
            report.items_seen += len(items)
            now_share = portion(fresh, changed, limits.items_per_feed, limits.pages_per_feed,
                                self.config.fetch.fetch_pages)
            held.extend(now_share.held)
            self._process(store, now_share.fresh, now_share.changed, report)
            # only now are the held items and the feeds' new validators and body hashes kept: a crash before
            # this point makes the next cycle parse the same bodies again, so no item is lost
            self._keep_backlog(store, waiting, now_share.held)
            store.record_validators(parsed, self.clock())

    @staticmethod
    def _due_urls(store: Store, due: Sequence[int], backlog: Sequence[tuple[str, FeedItem]]) -> set[str]:
        """Which of the backlog's feeds are due (their items wait for their feed's batch): read for those
        feeds only, not kept for every due feed."""
        if not backlog:
            return set()
        rowids = set(due)
        return {url for url, rowid in store.feed_rowids({item.feed_url for _, item in backlog}).items()
                if rowid in rowids}

    def _publish(self, store: Store, report: CycleReport) -> None:
        """The Atom feeds in state/, when this cycle stored hits or copies (or they are missing); a failure
        is logged and costs only the feeds' freshness, never the cycle."""
        if not (report.hits or report.copies or report.updated or not (self.config.state_dir / "hits.atom").exists()):
            return
        try:
            write_feeds(store, self.config.state_dir, self.clock())
        except Exception as exc:
            log.error("atom: could not write the feeds in %s: %s: %s", self.config.state_dir, type(exc).__name__, exc)

    def _keep_backlog(self, store: Store, backlog: Sequence[tuple[str, FeedItem]], held: Sequence[FeedItem]) -> None:
        """Backlog items taken (or no longer new) leave it; newly held ones join it; the others keep their place."""
        queued = {id(item): key for key, item in backlog}
        still = {queued[id(item)] for item in held if id(item) in queued}
        store.set_backlog(set(queued.values()) - still,
                          [(_backlog_key(item), item) for item in held if id(item) not in queued], self.clock())

    @staticmethod
    def _report_held(held: Sequence[FeedItem], backlog: Sequence[FeedItem], report: CycleReport) -> None:
        """How many items each feed has waiting for the next cycle (0 for a feed whose backlog drained)."""
        waiting = Counter(item.feed_url for item in held)
        for url in {item.feed_url for item in backlog} | set(waiting):
            report.problems[url] = replace(report.problems.get(url, FeedProblems()), held=waiting[url])
        for url, count in waiting.items():
            log.info("limits: %s: %d items wait for the next cycle (limits.items_per_feed, pages_per_feed)",
                     url, count)
        report.held = len(held)

    def _decider(self, store: Store) -> Decider:
        """The resident near-duplicate and story indexes, loaded from the store once per process (kept there:
        Store.copy_index, Store.story_index over the day's story_window); stories idle for STORY_MEMORY
        (release stories: FOLLOW_UP) are dropped from memory once a day. Imported here: building or previewing
        a digest never loads the indexes or the extraction's patterns."""
        from monitor.decide.decider import Decider, story_window

        now = self.clock()
        if self.decider is None:
            self.decider = Decider.rebuild(store.copy_index(), store.story_index(*story_window(now)))
            self._pruned = now
        elif now - self._pruned >= timedelta(days=1):
            self.decider.forget_before(now)
            self._pruned = now
        return self.decider

    def _poll(self, store: Store, due: Sequence[FeedState], feeds: _Feeds,
              report: CycleReport) -> tuple[list[FeedItem], list[tuple[str, polling.PollDecision]]]:
        """Fetch and parse the due feeds; return their items and the parsed feeds' decisions, whose
        validators are recorded once the items are stored. The batch's answers are decided at one moment,
        when they are all in (a Feed is made only for a feed whose body is parsed)."""
        from monitor.fetch import Request

        now = self.clock()
        requests = [Request(s.fetch_url, "feed", *polling.validators(s, now)) for s in due]
        items: list[FeedItem] = []
        parsed: list[tuple[str, polling.PollDecision]] = []
        self._advance("feeds fetched", 0)  # each feed counts as its answer (or failure) comes
        outcomes = self.fetcher.fetch_many(requests, done=self._ticker("feeds fetched"))
        records: list[tuple[str, polling.PollDecision]] = []
        counts: list[tuple[str, int]] = []  # items of each feed parsed whole
        decided = self.clock()
        for state, outcome in zip(due, outcomes, strict=True):
            try:
                found, decision = self._poll_one(records, counts, feeds, state, outcome, decided, report)
            except Exception as exc:  # a bug on this feed's bytes: this feed's error, not the cycle's
                self._feed_failed(records, state, feeds.interval(state.url), exc, report)
                continue
            finally:
                self._advance("feeds polled")
            items.extend(found)
            if decision is not None:
                parsed.append((state.url, decision))
        store.record_polls(records, now)  # one transaction and a few prepared statements for the batch
        store.record_items(counts)
        return items, parsed

    def _poll_one(self, records: list[tuple[str, polling.PollDecision]], counts: list[tuple[str, int]],
                  feeds: _Feeds, state: FeedState, outcome: Outcome, now: datetime,
                  report: CycleReport) -> tuple[list[FeedItem], polling.PollDecision | None]:
        """Decide what one fetch means, parse a new body, add the outcome to `records` (validators held back)."""
        url = state.url  # the configured URL: the feed's identity
        interval = feeds.interval(url)
        report.feeds_polled += 1
        response = outcome.response
        decision: polling.PollDecision | None = None
        if response is not None:  # the commonest answers, a 304 or the same bytes again: no Seen to build
            if response.status == 304:
                decision = polling.not_modified(interval, now, response.permanent_redirect)
            elif response.status == 200:
                decision = polling.same_body(state, interval, response.body, response.etag, response.last_modified,
                                             response.permanent_redirect, now)
        if decision is None:
            decision = polling.decide(state, interval, _seen(outcome), now)
        parsed: ParsedFeed | None = None
        error: MonitorError | None = outcome.error
        if decision.ok and decision.parse:
            try:
                parsed = self._parse(feeds[url], outcome.response)
            except FeedError as exc:  # a broken body: keep its hash out, so the error repeats until fixed
                error = exc
                decision = replace(decision, ok=False, error=str(exc), body_hash=None,
                                   next_check=now + polling.backoff(interval, state.errors + 1))
        elif decision.ok:
            report.feeds_not_modified += 1
        self._report_poll(url, state, decision, report, error)
        if parsed is not None:  # parsed whole, or cut short
            records.append((url, replace(decision, etag=None, last_modified=None, body_hash=None,
                                         full_fetch=False)))
            self._report_parse(counts, url, state, parsed, report)
            # a truncated body's validators are not kept: the next poll fetches and parses the feed whole
            return parsed.items, None if parsed.partial else decision
        records.append((url, polling.to_store(decision, state) if decision.ok else decision))
        return [], None

    @staticmethod
    def _report_parse(counts: list[tuple[str, int]], url: str, state: FeedState, parsed: ParsedFeed,
                      report: CycleReport) -> None:
        """What the parse noticed, into the feed's problems: cut short, broken characters repaired."""
        partial = parsed.partial or polling.cut_short(len(parsed.items), state.full_items)
        report.problems[url] = FeedProblems(partial=partial) if partial else _CLEAN
        if not parsed.partial:
            counts.append((url, len(parsed.items)))
        if partial:
            log.warning("feeds: %s: partial: %s", url, partial)
        for repair in parsed.repairs:
            log.warning("feeds: %s: broken text repaired: %s", url, repair)
            report.problem(url, "repair", repair)

    def _feed_failed(self, records: list[tuple[str, polling.PollDecision]], state: FeedState, interval: int,
                     exc: Exception, report: CycleReport) -> None:
        """An unexpected exception while handling one feed: recorded as its poll error; its items wait."""
        now = self.clock()
        message = f"feeds: {state.url}: failed while handling the feed: {type(exc).__name__}: {exc}"
        log.error("%s", message, exc_info=True)
        decision = polling.PollDecision(ok=False, error=message,
                                        next_check=now + polling.backoff(interval, state.errors + 1))
        report.feed_errors.append((state.url, message))
        records.append((state.url, decision))

    @staticmethod
    def _report_poll(url: str, state: FeedState, decision: polling.PollDecision, report: CycleReport,
                     error: MonitorError | None) -> None:
        if decision.moved_to and decision.moved_to != state.fetch_url:
            log.warning("feeds: %s moved permanently to %s; fetching it there (update monitor.yaml)",
                        url, decision.moved_to)
        if decision.disable:
            log.error("feeds: %s disabled: %s (remove it from monitor.yaml, or fix it and restart)",
                      url, decision.disable)
        if not decision.ok:
            message = decision.error or "failed"
            report.feed_errors.append((url, message))
            # the error's own text already names this feed ("fetch: URL: ...") unless polling gave its verdict
            named = error is not None and error.url == url and message == str(error)
            log.warning("%s (next try %s)", message if named else f"feeds: {url}: {message}",
                        decision.next_check.strftime("%Y-%m-%d %H:%M UTC"))

    @staticmethod
    def _parse(feed: Feed, response: Response) -> ParsedFeed:
        from monitor.feeds import read_feed

        try:
            return read_feed(feed, response.body, response.headers, url=response.url)
        except FeedError:
            raise
        except Exception as exc:  # feedparser on hostile bytes: this feed's error, not the cycle's
            raise FeedError(f"parser failed: {type(exc).__name__}: {exc}", url=feed.url) from exc

    def _new_items(self, store: Store, items: Sequence[FeedItem],
                   report: CycleReport) -> tuple[list[FeedItem], list[tuple[FeedItem, StoredArticle]]]:
        """New items, and stored articles to look at again (decide/new.py), from what the store knows.
        Should that raise, each item is tried alone, and the ones that raise become their own errors."""
        try:
            return self._sort(store, items)
        except Exception:  # rare: find the items that raise, then sort the others together
            good = [i for i in items if self._guarded(report, i, "keying", lambda i=i: self._sort(store, [i]))]
            return self._sort(store, good)

    def _sort(self, store: Store,
              items: Sequence[FeedItem]) -> tuple[list[FeedItem], list[tuple[FeedItem, StoredArticle]]]:
        all_keys = [k for item in items for k in item_keys(item) if k]
        updates = self.config.updates
        return sort_items(items, store.known_keys(all_keys), store.stored_items(all_keys), self.clock(),
                          self.config.max_age, updates.within, updates.every)

    @staticmethod
    def _guarded(report: CycleReport, item: FeedItem, stage: str, step: Callable[[], object]) -> bool:
        """Run one item's step; an exception becomes the item's error (its feed's problem), not the cycle's."""
        try:
            step()
        except Exception as exc:
            what = f"{item.url or item.guid or item.title[:80]}: {stage} failed: {type(exc).__name__}: {exc}"
            log.error("feeds: %s: %s", item.feed_url, what, exc_info=True)
            report.item_errors.append((item.feed_url, what))
            report.problem(item.feed_url, "item", what)
            return False
        return True

    def _process(self, store: Store, fresh: Sequence[FeedItem], changed: Sequence[tuple[FeedItem, StoredArticle]],
                 report: CycleReport) -> None:
        from monitor.extract import fallback_article
        from monitor.extract_pool import ExtractPool
        from monitor.fetch import Request

        book = self.rules()
        rules = {r.name: r for r in book.rules}
        # new items are decided oldest first (feeds list newest first): a backlog or a first run then joins
        # stories in the order the events happened, as a story takes an article only near its own dates
        fresh = sorted(fresh, key=lambda i: (i.published is None, i.published or datetime.min.replace(tzinfo=UTC)))
        items = [*fresh, *(item for item, _ in changed)]
        if not items:  # nothing new: the copy and story indexes are not even loaded
            return
        with_pages = [i for i in items if i.url] if self.config.fetch.fetch_pages else []
        self._expect("pages fetched", len(with_pages))
        outcomes = {o.request.url: o for o in self.fetcher.fetch_many([Request(i.url, "page") for i in with_pages],
                                                                       done=self._ticker("pages fetched"))}
        _count_pages_not_fetched(list(outcomes.values()), report)
        jobs = [_job(item, outcomes.get(item.url or "")) for item in items]
        self._expect("articles extracted", len(jobs))
        if self.extractor is None:
            self.extractor = ExtractPool(workers=0)
        try:
            articles = self.extractor.run(jobs, done=self._ticker("articles extracted"))
        except MonitorError as exc:  # the pool itself failed (its workers do not start): summaries stand in
            log.error("%s: the feed summaries stand in for this cycle's pages", exc)
            articles = [fallback_article(job.item, f"extraction unavailable: {exc.message}", failed=True)
                        for job in jobs]
            self._counts["articles extracted"] = self._counts["articles extracted total"] - len(jobs)
            self._advance("articles extracted", len(jobs))
        self._expect("articles checked", len(items))
        decider = self._decider(store)
        work = list(enumerate(zip(items, jobs, articles, strict=True)))
        for start in range(0, len(work), STORE_BATCH):
            try:
                # one commit for STORE_BATCH articles (each article's writes are still all or nothing: a
                # savepoint of its own); a crash loses the batch's articles, which the feeds bring again, as
                # their validators are kept only after this stage
                with store.transaction():
                    for n, (item, job, article) in work[start:start + STORE_BATCH]:
                        _count_page(report, job, article)

                        def handle(n: int = n, item: FeedItem = item, article: Article = article) -> None:
                            article, hits = self._match(book, item, article)
                            now = self.clock()
                            if n >= len(fresh):  # a stored article looked at again: no copy or story lookup
                                self._update(store, changed[n - len(fresh)][1], article,
                                             decider.describe(article, hits, rules), now, report)
                            else:
                                decision = decider.decide(article, hits, rules, now, max_age=self._alert_age())
                                self._store_new(store, decider, article, decision, now, report)

                        self._guarded(report, item, "storing" if n < len(fresh) else "updating", handle)
                        self._advance("articles checked")
            except BaseException:
                self.decider = None  # its indexes may hold articles the failed commit did not keep: rebuilt
                raise

    def _expect(self, stage: str, more: int) -> None:
        """A batch brings `more` to do at `stage`: the total grows (batches come one after another)."""
        self._counts[f"{stage} total"] += more
        self._advance(stage, 0)

    def _ticker(self, stage: str) -> Callable[[], None] | None:
        """A callback that counts one more done at `stage` (None without progress: nothing to call)."""
        return (lambda: self._advance(stage)) if self.progress is not None else None

    def _advance(self, stage: str, done: int = 1) -> None:
        if self.progress is not None:
            self._counts[stage] += done
            self.progress(stage, self._counts[stage], self._counts[f"{stage} total"])

    def _alert_age(self) -> timedelta | None:
        age = self.config.alerts.max_age
        return timedelta(seconds=age) if age else None

    @staticmethod
    def _match(book: RuleBook, item: FeedItem, article):
        from monitor.extract import fallback_article
        from monitor.rules.matching import match_article  # the matcher only where articles come (not digests)

        try:
            return article, match_article(book, article.title, article.text)
        except Exception as exc:  # a hostile text must not stop the cycle: keep the item, say why
            log.warning("rules: %s: %s: %s", item.url, type(exc).__name__, exc)
            article = fallback_article(item, f"matching the page failed: {type(exc).__name__}")
            return article, match_article(book, article.title, article.text)

    def _store_new(self, store: Store, decider: Decider, article, decision: Decision, now: datetime,
                   report: CycleReport) -> None:
        item = article.item
        guid_key, url_key = item_keys(item)
        if decision.duplicate_of is not None:
            if store.add_source(decision.duplicate_of, article, guid_key, url_key, now, decision.copy_reason):
                report.copies += 1
            return
        article_id = store.add_article(
            article, guid_key, url_key, decision.hits, now, story=decision.story,
            fingerprint=decision.fingerprint, features=_features(decision),
            facts=asdict(decision.facts) if decision.facts else None, item_hash=item_hash(item),
            notes=decision.dropped)
        if article_id is None:
            return
        decider.record(article_id, decision.story, decision, now)
        if decision.hits:  # per article: DEBUG (-v); INFO is one line per cycle, alert and delivery
            log.debug("stories: %s: %s", item.url, decision.story_reason)
        report.new_articles += 1
        report.joined += decision.story is not None
        report.from_summary += article.text_source == "summary"
        report.hits += len(decision.hits)

    @staticmethod
    def _update(store: Store, row: StoredArticle, article, decision: Decision, now: datetime,
                report: CycleReport) -> None:
        """A stored article whose feed entry changed: replace its text if it did change; never re-alert."""
        if text_unchanged(row, decision.fingerprint, article.text_source):
            store.mark_checked(row.id, item_hash(article.item), now)  # the text did not change (or no page now)
            return
        store.update_article(row.id, article, decision.hits, now, fingerprint=decision.fingerprint,
                             features=_features(decision),
                             facts=asdict(decision.facts) if decision.facts else None,
                             item_hash=item_hash(article.item))
        report.updated += 1

    # -- messages ---------------------------------------------------------------------------------

    def queue_alerts(self, store: Store, report: CycleReport | None = None) -> Message | None:
        """One alert message per story with alert-worthy hits not yet alerted; returns the last one queued. A story
        whose alert cannot be rendered with one of its items is sent without it; that item's hits wait (tried
        again next cycle) and its failure is its feed's problem, as in every other stage."""
        message = None
        failed: list[tuple[MessageItem, Exception]] = []
        with store.transaction():
            items, hit_ids = store.pending_items("alert")
            if not items:
                return None
            hits_of: dict[int, list[int]] = {}
            by_story: dict[str, list[MessageItem]] = {}
            for item, ids in zip(items, _hit_ids_per_item(items, hit_ids), strict=True):
                hits_of[id(item)] = ids
                by_story.setdefault(item.story, []).append(item)
            layout = self.layout()
            for group in by_story.values():
                try:
                    built, shown, broken = _render_apart(
                        group, lambda part: build_message("alert", part, self.clock(), layout=layout))
                except Exception as exc:  # no item of the story's alert renders: each one's error
                    failed.extend((item, exc) for item in group)
                    continue
                failed.extend(broken)
                message = built
                store.save_message(message, [h for i in shown for h in hits_of[id(i)]], [s.name for s in self.senders])
                if report is not None:
                    report.alerts += 1
        if failed:
            self._not_rendered(store, "alert", failed, report)
        return message

    def _not_rendered(self, store: Store, kind: str, failed: Sequence[tuple[MessageItem, Exception]],
                      report: CycleReport | None) -> None:
        """Items a message was sent without, as their feeds' failed items (`feeds`, `status`): the cycle's problems
        when `report` is given (recorded at its end), else added to what each feed's last cycle recorded."""
        urls = {row["name"]: row["url"] for row in store.feed_health()}
        found: dict[str, FeedProblems] = {}
        for item, exc in failed:
            what = f"{item.url or item.title[:80]}: {kind} rendering failed: {type(exc).__name__}: {exc}"
            log.error("%s: %s: %s", kind, item.feed, what, exc_info=exc)
            url = urls.get(item.feed)
            if url is None:  # its feed has left the config: the log line is all there is
                continue
            if report is not None:
                report.item_errors.append((url, what))
                report.problem(url, "item", what)
            else:
                problems = found.get(url) or next(r["problems"] for r in store.feed_health() if r["url"] == url)
                again = (problems.item_error or "").startswith(f"{item.url}: ")  # the same item, in another stage
                found[url] = replace(problems, items_failed=problems.items_failed + (not again), item_error=what[:500])
        if found:
            store.record_problems(found, self.clock())

    def preview_alert(self, store: Store, story: str) -> tuple[Message | None, bool]:
        """The alert of `story` built as it would be sent now, and whether the story raised one (if not: built
        from all its hits, to be seen anyway). Nothing is saved or queued."""
        items = store.story_items(story)
        raised = bool(items)
        if not raised:
            items = store.story_items(story, alerting=False)
        return (build_message("alert", items, self.clock(), layout=self.layout()) if items else None), raised

    def layout(self) -> Layout:
        """The reader's zone, the caps and the rules' descriptions (topic headings), in rule order."""
        digest = self.config.digest
        try:
            descriptions = (dict(self.descriptions()) if self.descriptions is not None
                            else {r.name: r.description for r in self.rules().rules})
        except MonitorError:  # rules that do not load are reported in health; headings fall back to names
            descriptions = {}
        return Layout(zone=digest.timezone, stories_per_topic=digest.stories_per_topic,
                      sources_per_story=digest.sources_per_story, descriptions=descriptions)

    def prune(self, store: Store, dry_run: bool = False, step: Callable[[str], None] | None = None) -> dict[str, int]:
        """Apply `retention:`: what it allows is dropped (nothing with a hit, no story or release report),
        then freed space is given back. Returns the counts, and `bytes` freed. `step`: told each part."""
        keep = self.config.retention
        now = self.clock()
        before = {name: now - timedelta(seconds=seconds) if seconds else None
                  for name, seconds in (("text_before", keep.article_text), ("articles_before", keep.non_hit_articles),
                                        ("messages_before", keep.delivered_messages))}
        counts = store.prune(**before, dry_run=dry_run, step=step)
        if dry_run:
            return {**counts, "bytes": 0}
        if step is not None:
            step("giving the freed space back to the file system")
        return {**counts, "bytes": store.reclaim()}

    def build_digest(self, store: Store, save: bool = True) -> Message:
        """The digest of every hit not yet in one; saved and queued unless `save` is false."""
        health = [f for f in store.feed_health() if f["errors"]]
        with collector_paused(), store.transaction():
            items, hit_ids = store.pending_items("digest", sentences=False)
            suppressed = store.suppressions(pending_digest=True)
            # dead deliveries (once) and late ones: the channels that work carry the news of those that don't
            undelivered = store.delivery_problems(self.clock(), self.clock() - STALE_AFTER)
            counted, to_merge = store.release_ledger()
            layout, rule_errors, ledger = self.layout(), self.rule_errors(), ledger_line(to_merge, counted)
            message, shown, failed = _render_apart(items, lambda part: build_message(
                "digest", part, self.clock(), health=health, rule_errors=rule_errors, suppressed=suppressed,
                layout=layout, ledger=ledger, undelivered=undelivered, complete=store.with_sentences))
            if failed:  # sent without the items it cannot show: their hits wait for the next digest
                kept = {id(item) for item in shown}
                hit_ids = [h for item, ids in zip(items, _hit_ids_per_item(items, hit_ids), strict=True)
                           if id(item) in kept for h in ids]
            if save:
                store.save_message(message, hit_ids, [s.name for s in self.senders],
                                   suppression_ids=[s["id"] for s in suppressed])
                store.mark_reported(undelivered, message.id)
        if failed and save:
            self._not_rendered(store, "digest", failed, None)
        return message

    def deliver(self, store: Store, report: CycleReport | None = None, channel: str | None = None) -> CycleReport:
        """One delivery round (monitor/courier.py): every due delivery (of `channel` alone, if given), each channel
        within its budget."""
        from monitor.courier import Courier

        report = report or CycleReport()
        senders = [s for s in self.senders if channel is None or s.name == channel]
        done = Courier(senders, self.config.delivery, self.clock).run(store)
        report.delivered += done.delivered
        report.delivery_errors.extend(done.errors)
        return report


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector held off while a digest is built: it reads and builds ~20,000 records at once
    (rows, items, stories, views), all alive until the message is rendered, so each collection would walk the
    growing heap again and free nothing (reference counting frees them all the same). A day of 14,854 items at
    1,000,000 stored articles spent 0.15-0.2 s of its ~1.2 s CPU in the collector (measured with gc.callbacks).
    It runs again afterwards, as it was (a caller that turned it off keeps it off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Feeds(Mapping[str, Feed]):
    """The configured feeds by URL, each Feed made when asked (as its batch comes): a cycle of 30,000 feeds
    does not hold 30,000 Feeds beside the config's own models."""

    def __init__(self, config: Config):
        self._config = config
        self._at = {f.url: i for i, f in enumerate(config.feeds)}  # a URL listed twice: the last, as feed_list

    def __getitem__(self, url: str) -> Feed:
        return self._config.feed(self._at[url])

    def interval(self, url: str) -> int:
        """The feed's poll interval in seconds, as configured now (without making its Feed)."""
        return self._config.feed_interval(self._at[url])

    def names(self) -> Iterator[tuple[str, str]]:
        """(url, name) of every feed, as its Feed has them (without making the Feeds)."""
        return ((url, self._config.feed_name(i)) for url, i in self._at.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def intervals(self) -> dict[str, int]:
        """url -> the feed's poll interval in seconds, as configured now."""
        default = self._config.interval
        feeds = self._config.feeds
        return {url: feeds[i].interval or default for url, i in self._at.items()}


def _features(decision: Decision) -> dict | None:
    """The story features to store: an article's with hits (story_rows reads them back); None for the others."""
    return decision.features.to_dict() if decision.features is not None else None


def _count_pages_not_fetched(outcomes: Sequence[Outcome], report: CycleReport) -> None:
    """One line per cycle saying how many pages were not fetched and why, so a throttled or failing
    host shows in the log rather than only in each article's text_note."""
    why = Counter(o.failure for o in outcomes if o.error is not None)
    report.pages_not_fetched += sum(why.values())
    if why:
        log.warning("pages: %d of %d not fetched this cycle (%s); their articles use the feed summary",
                    report.pages_not_fetched, len(outcomes), ", ".join(f"{n} {w}" for w, n in why.most_common()))


def build_pipeline(config: Config, rules: Callable[[], RuleBook], *, clock: Callable[[], datetime] = utcnow,
                   inline_extraction: bool = False, polls: bool = True) -> Pipeline:
    """The pipeline as the CLI and the service run it: one fetcher for feeds, pages and webhooks, a sender per
    configured channel, and the extraction pool of `extract` (started lazily, closed by the caller with
    `with pipeline.extractor:`); `inline_extraction` extracts in this process instead (tests). Without `polls`
    (a command that only builds and sends messages) the fetcher, and aiohttp with it (~0.2 s of CPU to import),
    is made only when a channel posts over HTTP (Slack, webhook)."""
    from monitor.channels import build_senders, posts_over_http
    from monitor.extract_pool import ExtractPool

    fetcher = None
    if polls or posts_over_http(config):
        from monitor.fetch import Fetcher

        fetcher = Fetcher(config.fetch)
    extractor = ExtractPool(workers=0) if inline_extraction else ExtractPool(
        workers=config.extract.workers, timeout=config.extract.timeout, memory_mb=config.extract.memory_mb,
        memory_total_mb=config.extract.memory_total_mb)
    if extractor.workers == 0 and not inline_extraction:
        log.warning("extract.workers is 0: pages are extracted inside the service with no time limit and "
                    "no memory cap (one hostile page can stall or bloat it); use it for debugging only")
    return Pipeline(config, rules, fetcher, build_senders(config, fetcher), clock=clock, extractor=extractor)


def _backlog_key(item: FeedItem) -> str:
    """An item's key in the backlog: the URL key of the article it will become, else its GUID key."""
    guid_key, url_key = item_keys(item)
    return url_key or guid_key or ""


def _count_page(report: CycleReport, job: ExtractJob, article: Article) -> None:
    """A page that could not be fetched, or whose extraction failed, is a problem of the item's feed."""
    if job.fetch_error is not None:
        report.problem(job.item.feed_url, "page", job.fetch_error)
    elif article.failed:
        report.problem(job.item.feed_url, "extract", f"{job.item.url}: {article.note}")


def _job(item: FeedItem, outcome: Outcome | None) -> ExtractJob:
    """What the extract stage gets for an item: its page bytes, or why there are none."""
    from monitor.extract_pool import ExtractJob

    if outcome is None:
        return ExtractJob(item, None)
    if outcome.error is not None:
        return ExtractJob(item, None, "", str(outcome.error))
    return ExtractJob(item, outcome.response.body, outcome.response.content_type)


def _seen(outcome: Outcome) -> polling.Seen:
    """What a fetch outcome means to the poll decision."""
    error = outcome.error
    if error is None:
        r = outcome.response
        return polling.Seen(status=r.status, body=r.body, etag=r.etag, last_modified=r.last_modified,
                            moved_to=r.permanent_redirect)
    return polling.Seen(status=getattr(error, "status", None), error=str(error),
                        retry_after=getattr(error, "retry_after", None))


def _render_apart(items: Sequence[MessageItem], build: Callable[[Sequence[MessageItem]], Message]
                  ) -> tuple[Message, list[MessageItem], list[tuple[MessageItem, Exception]]]:
    """(the message `build` makes of `items`, the items it shows, the items it had to leave out and why): when the
    whole does not render, the items that do not render alone are found by halving (a few builds for one bad
    item among thousands) and the message is built without them. Raises when it is no item's fault: every item
    fails alone (the message's other parts are broken) or the rest still fails together."""
    try:
        return build(items), list(items), []
    except Exception:
        failed = _culprits(list(items), build)
        if not failed or len(failed) == len(items):
            raise
    left_out = {id(item) for item, _ in failed}
    shown = [item for item in items if id(item) not in left_out]
    return build(shown), shown, failed


def _culprits(items: list[MessageItem], build: Callable[[Sequence[MessageItem]], Message]
              ) -> list[tuple[MessageItem, Exception]]:
    """The items of a group that does not render that fail alone, with their exceptions."""
    if len(items) == 1:
        try:
            build(items)
        except Exception as exc:
            return [(items[0], exc)]
        return []
    found = []
    for half in (items[:len(items) // 2], items[len(items) // 2:]):
        try:
            build(half)
        except Exception:
            found += _culprits(half, build)
    return found


def _hit_ids_per_item(items: Sequence, hit_ids: Sequence[int]) -> list[list[int]]:
    """store.pending_items gives one hit id per (article, rule), article by article in item order: cut them
    per item (hits are unique per article and rule, so an item has one per rule)."""
    out, at = [], 0
    for item in items:
        out.append(list(hit_ids[at:at + len(item.rules)]))
        at += len(item.rules)
    return out
