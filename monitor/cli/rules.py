"""`news-monitor rules`: check the rule files, test rules on a text, a file or a URL, and backtest a
rule over the stored articles."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli.context import EXIT_INVALID, Context, guarded
from monitor.cli.progress import StageProgress
from monitor.clock import utcnow
from monitor.models import FeedItem

if TYPE_CHECKING:
    from monitor.rules.book import RuleBook


@click.group()
def rules() -> None:
    """Rule files: check them, test them on a text, backtest them on stored articles."""


@rules.command("check")
@click.pass_obj
@guarded
def rules_check(obj: Context) -> None:
    """Validate every rule file and run every rule's examples."""
    from monitor.rules.files import load_rulebook

    book = load_rulebook(obj.config.rules_dir)
    failures = _example_failures(book)
    for failure in failures:
        click.echo(failure, err=True)
    click.echo(f"{len(book.rules)} rules, {sum(len(r.must_match) + len(r.must_not_match) for r in book.rules)} "
               f"examples, {len(failures)} failing")
    if failures:
        sys.exit(EXIT_INVALID)


def _example_failures(book: RuleBook) -> list[str]:
    from monitor.rules.matching import match_article

    failures = []
    for rule in book.rules:
        for text, expected in [(t, True) for t in rule.must_match] + [(t, False) for t in rule.must_not_match]:
            matched = any(h.rule == rule.name for h in match_article(book, "", text))
            if matched != expected:
                failures.append(f"{rule.path}: example {'should' if expected else 'should not'} match: {text!r}")
    return failures


def _pick(book: RuleBook, name: str) -> list:
    if name == "all":
        return list(book.rules)
    rule = book.get(name)
    if rule is None:
        raise click.BadParameter(f"no rule named {name!r} (rules: {', '.join(book.names)}, or all)",
                                 param_hint="RULE")
    return [rule]


@rules.command("test")
@click.argument("rule_name", metavar="RULE")
@click.option("--text", help="The text to test (as an article body).")
@click.option("--title", default="", help="A title to test together with the text.")
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A text file, or an HTML page (its article text is extracted first).")
@click.option("--url", help="A page to fetch and extract, as the monitor would.")
@click.option("--jsonl", "jsonl", type=click.File("r", encoding="utf-8"),
              help='Many texts: one JSON object per line with "text" and optional "title", "id", "published" '
                   "(ISO date); '-' reads standard input. Prints one JSON object per line.")
@click.option("--published", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
              help="When the text was published (UTC unless given): old news is held back by alerts.max_age.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule: rule, matched, why, evidence.")
@click.pass_obj
@guarded
def rules_test(obj: Context, rule_name: str, text: str | None, title: str, file_path: Path | None,
               url: str | None, jsonl, published: datetime | None, as_json: bool) -> None:
    """Say whether RULE (a rule name, or all) matches, whether it would alert and why; on a miss, the first
    clause that failed. Exit 0 either way."""
    if sum(x is not None for x in (text, file_path, url, jsonl)) != 1:
        raise click.UsageError("give exactly one of --text, --file, --url or --jsonl")
    from monitor.cli.verdict import verdicts
    from monitor.rules.evaluate import evaluate, explain
    from monitor.rules.files import load_rulebook
    from monitor.rules.matching import index_article

    book = load_rulebook(obj.config.rules_dir)
    chosen = _pick(book, rule_name)
    age = obj.config.alerts.max_age
    gate = {"now": utcnow(), "max_age": timedelta(seconds=age) if age else None}
    if jsonl is not None:
        for number, line in enumerate(jsonl, 1):
            if line.strip():
                click.echo(json.dumps(_jsonl_verdicts(book, chosen, number, line, gate), ensure_ascii=False))
        return
    if file_path is not None:
        title, text = _from_bytes(file_path.read_bytes(), title, "text/html" if file_path.suffix in (".html", ".htm")
                                  else "")
    elif url is not None:
        from monitor.fetch import Fetcher, Request

        outcome = Fetcher(obj.config.fetch).fetch(Request(url, "page"))
        if outcome.error is not None:
            raise click.BadParameter(str(outcome.error), param_hint="--url")
        title, text = _from_bytes(outcome.response.body, title, outcome.response.content_type or "text/html")
    index = index_article(title, text or "")
    when = _utc(published)
    for rule, verdict in zip(chosen, verdicts(book, chosen, title, text or "", when, **gate), strict=True):
        match = evaluate(rule.node, index)
        why = explain(match, index) if match.matched else "no match"
        if as_json:
            click.echo(json.dumps({"rule": rule.name, "matched": match.matched, "why": why,
                                   "clauses": list(match.clauses), "evidence": [e.__dict__ for e in match.evidence],
                                   "alert": verdict["alert"], "why_alert": verdict["why_alert"],
                                   "failed": verdict.get("failed")}, ensure_ascii=False))
        elif match.matched:
            click.echo(f"{rule.name}: MATCH\n    {why}\n    {'ALERT' if verdict['alert'] else 'no alert'}: "
                       f"{verdict['why_alert']}")
        else:
            click.echo(f"{rule.name}: no match\n    failed: {verdict['failed']}"
                       + (" (the only clause missing: a near miss)" if verdict["near_miss"] else ""))


def _utc(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def _jsonl_verdicts(book: RuleBook, chosen: list, number: int, line: str, gate: dict) -> dict:
    """The verdicts for one --jsonl line, or its error: a bad line is reported and the next one read."""
    from monitor.cli.verdict import verdicts

    try:
        item = json.loads(line)
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ValueError('expected an object with a "text" string')
        title = item.get("title") or ""
        if not isinstance(title, str):
            raise ValueError('"title" must be a string')
        published = _utc(datetime.fromisoformat(item["published"])) if item.get("published") else None
    except (ValueError, TypeError) as exc:
        return {"line": number, "error": f"line {number}: {exc}"}
    out = {"line": number, "id": item["id"]} if "id" in item else {"line": number}
    return out | {"results": verdicts(book, chosen, title, item["text"], published, **gate)}


def _window(since: str) -> datetime:
    """The start of the --since window, or a usage error (exit 2)."""
    from monitor.config import parse_duration

    try:
        return utcnow() - timedelta(seconds=parse_duration(since))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None


def _from_bytes(body: bytes, title: str, content_type: str) -> tuple[str, str]:
    """Plain text as it is; an HTML page through the extract stage, as the monitor would see it."""
    from monitor.extract import decode_html, extract_article

    looks_html = "html" in content_type or body.lstrip()[:1] == b"<"
    if not looks_html:
        return title, decode_html(body, content_type)
    item = FeedItem(feed_url="", feed_name="", guid=None, url=None, title=title, summary="", published=None)
    article = extract_article(item, body, content_type)
    return article.title or title, article.text


@rules.command("backtest")
@click.argument("rule_name", metavar="RULE")
@click.option("--since", default="30d", show_default=True, help="Articles first seen within this long.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per changed article.")
@click.pass_obj
@guarded
def rules_backtest(obj: Context, rule_name: str, since: str, as_json: bool) -> None:
    """Run RULE as it is on disk over the stored articles; list what it would add and remove."""
    from monitor.rules.files import load_rulebook
    from monitor.rules.matching import index_article
    from monitor.rules.ruleset import RuleSet
    from monitor.store import Store

    window = _window(since)
    book = load_rulebook(obj.config.rules_dir)
    chosen = _pick(book, rule_name)
    # the keyword automaton of the chosen rules picks which rules to test on each article at all, as in
    # the pipeline; only the yes/no is needed, so no evidence is computed
    ruleset = book.ruleset if len(chosen) == len(book.rules) else RuleSet({r.name: r.node for r in chosen})
    with Store.open(obj.config.db_path) as store, StageProgress() as terminal:  # draws only on a terminal
        stored = {rule.name: store.article_ids_with(rule.name, window) for rule in chosen}
        total = store.count_articles(window)
        progress = _Progress(total, terminal, quiet=total < _PROGRESS_FROM)
        seen = 0
        changes = []
        for row in store.articles(window):
            seen += 1
            matching = ruleset.matching(index_article(row["title"] or "", row["text"] or ""))
            for rule in chosen:
                now_matches = rule.name in matching
                if now_matches != (row["id"] in stored[rule.name]):
                    # what the listing prints, not the article's text: a new rule may change many articles
                    listed = {"url": row["url"], "title": row["title"], "first_seen": row["first_seen"]}
                    changes.append(("add" if now_matches else "remove", rule.name, listed))
            progress.tick(seen)
        progress.done(seen)
    for change, name, row in changes:
        if as_json:
            click.echo(json.dumps({"change": change, "rule": name, "url": row["url"], "title": row["title"],
                                   "first_seen": row["first_seen"]}, ensure_ascii=False))
        else:
            click.echo(f"{'+' if change == 'add' else '-'} [{name}] {row['title']}\n    {row['url']}")
    adds = sum(c[0] == "add" for c in changes)
    click.echo(f"{seen} articles since {since}: {adds} would be added, {len(changes) - adds} removed",
               err=as_json)


_PROGRESS_FROM = 5_000  # smaller backtests finish before a progress line would help


class _Progress:
    """On a terminal, a redrawn "articles checked: N of TOTAL" line; at the end (from _PROGRESS_FROM
    articles, terminal or not) one line with the count, time and rate, named by the command."""

    def __init__(self, total: int, terminal: StageProgress, quiet: bool = False, command: str = "backtest"):
        self.total, self.terminal, self.quiet, self.command = total, terminal, quiet, command
        self.started = time.monotonic()

    def tick(self, done: int) -> None:
        if self.terminal.enabled and not done % 64:
            self.terminal("articles checked", done, self.total)

    def done(self, done: int) -> None:
        self.terminal("articles checked", done, self.total)
        self.terminal.finish()
        if not self.quiet:
            elapsed = time.monotonic() - self.started
            click.echo(f"{self.command}: {done:,} articles in {elapsed:.1f} s ({done / max(elapsed, 1e-9):,.0f}/s)",
                       err=True)


@rules.command("near-misses")
@click.argument("rule_name", metavar="RULE")
@click.option("--since", default="7d", show_default=True, help="Articles first seen within this long.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per article.")
@click.pass_obj
@guarded
def rules_near_misses(obj: Context, rule_name: str, since: str, as_json: bool) -> None:
    """List stored articles that RULE (or all) almost caught: all its clauses but one hold (a side of a NEAR,
    an AND operand, a veto), with the clause that failed."""
    from monitor.cli.verdict import near_misses
    from monitor.rules.files import load_rulebook
    from monitor.store import Store

    window = _window(since)
    book = load_rulebook(obj.config.rules_dir)
    chosen = _pick(book, rule_name)
    seen = found = 0
    with Store.open(obj.config.db_path) as store, StageProgress() as terminal:  # draws only on a terminal
        total = store.count_articles(window)
        # each article's failure walk costs a few milliseconds: a month of articles takes a while
        progress = _Progress(total, terminal, quiet=total < _PROGRESS_FROM, command="near-misses")
        for row in store.articles(window):
            seen += 1
            progress.tick(seen)
            for name, missing in near_misses(book, chosen, row["title"] or "", row["text"] or "").items():
                found += 1
                terminal.clear()  # the progress line comes back below the listing
                if as_json:
                    click.echo(json.dumps({"rule": name, "missing": missing, "url": row["url"],
                                           "title": row["title"], "first_seen": row["first_seen"]},
                                          ensure_ascii=False))
                else:
                    click.echo(f"[{name}] {row['title']}\n    {row['url']}\n    missing: {missing}")
        progress.done(seen)
    click.echo(f"{seen} articles since {since}: {found} near misses", err=as_json)
