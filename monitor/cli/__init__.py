"""The `news-monitor` command line: run (the service, or --once), hits, digest, status; the feeds and
rules groups live beside it.

Each command loads the config, builds the pipeline and calls it; no logic lives here that the
service also needs. Each imports what it needs inside its function: the read commands (hits, status, releases,
digest --dry-run) never load aiohttp, feedparser, trafilatura or APScheduler, whose import alone took longer
than their queries at 1,000,000 articles (tests/test_cli_imports.py).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from monitor import __version__
from monitor.cli.browse import browse as browse_command
from monitor.cli.channels import channels as channels_group
from monitor.cli.context import Context, guarded
from monitor.cli.export import export as export_group
from monitor.cli.feeds import feeds as feeds_group
from monitor.cli.outbox import outbox as outbox_group
from monitor.cli.progress import StageProgress
from monitor.cli.rules import rules as rules_group
from monitor.cli.status import status as status_command
from monitor.clock import utcnow

log = logging.getLogger("monitor")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="MONITOR_CONFIG",
              default="monitor.yaml", show_default=True, help="Config file (env MONITOR_CONFIG).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details (per article: story and match reasons).")
@click.option("--log-format", type=click.Choice(["text", "json"]), envvar="MONITOR_LOG_FORMAT", default="text",
              show_default=True, help="json: one JSON object per log line, for log shippers (env MONITOR_LOG_FORMAT).")
@click.version_option(__version__, prog_name="news-monitor")
@click.pass_context
def main(ctx: click.Context, config_path: Path, verbose: bool, log_format: str) -> None:
    """Scheduled news monitor: feeds -> article text -> rules -> deduplicated hits -> digests and alerts."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    ctx.obj = Context(config_path)


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed now, process, send due alerts, and exit.")
@click.pass_obj
@guarded
def run(obj: Context, once: bool) -> None:
    """Run the monitor: a long-lived service, or one full cycle with --once."""
    from monitor.config import startup_problems
    from monitor.lock import instance_lock
    from monitor.rules.files import RuleSource
    from monitor.service import Service
    from monitor.store import Store

    config = obj.config
    for warning in startup_problems(config):  # errors (unreadable rules, unwritable state) raise here
        log.warning("%s", warning)
    source = RuleSource(config.rules_dir, log)
    source.current()  # invalid rules stop us here, before anything is fetched
    pipeline = obj.pipeline(source.current)
    pipeline.rule_errors = lambda: [e.located() for e in source.errors]
    _tune_collector()
    with instance_lock(config.state_dir, why="it polls and delivers by itself if it is the service (`news-monitor "
                       "status` shows its cycles; `digest` and `prune` are handed to it)"), pipeline.extractor:
        _keep_headings(config, source.current)
        if not once:
            Service(pipeline, watch_rules=source.current).run()
            return
        with Store.open(config.db_path) as store:
            started = pipeline.clock()
            store.record_heartbeat("poll", started, pid=os.getpid())
            with StageProgress() as progress:  # draws only when stderr is a terminal
                pipeline.progress = progress if progress.enabled else None  # nothing to draw: not even counted
                report = pipeline.run_cycle(store, force=True)
            store.record_heartbeat("poll", started, pipeline.clock(), report.counts(), pid=os.getpid())
        click.echo(report.summary())  # per-feed and delivery errors were logged as they happened


def _keep_headings(config, load) -> None:
    """The rules' descriptions as they load now, kept in the state directory (monitor/rulecache.py): a digest run
    by hand after a bad edit takes its topic headings from them."""
    from monitor.rulecache import rule_descriptions

    rule_descriptions(config.rules_dir, config.state_dir, load)


def _tune_collector() -> None:
    """The cyclic garbage collector, for a process that keeps its config (10,000 feeds: 10,000 models), rules
    and modules all its life and allocates many short-lived objects per request: what is loaded by now leaves
    the collector's generations (gc.freeze), so full collections stop walking it, and young collections wait
    for 10,000 allocations instead of 700, so a request's objects are freed by reference counting before a
    collection walks and promotes them. An unchanged 10,000-feed cycle spent 0.35-0.6 s of its 2.8 s CPU in
    the collector; 0.13 s with both (measured with gc.callbacks)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--since", help="Only hits first seen within this long, e.g. 24h or 7d.")
@click.option("--rule", help="Only articles that hit this rule.")
@click.pass_obj
@guarded
def hits(obj: Context, as_json: bool, since: str | None, rule: str | None) -> None:
    """List stored hits, oldest first."""
    from monitor.config import parse_duration
    from monitor.records import hit_records
    from monitor.store import Store

    try:
        window = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with Store.open(obj.config.db_path) as store:
        records = hit_records(store, since=window, rule=rule)
    for record in records:
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(f"{record['first_seen']}  [{', '.join(record['rules'])}]  {record['title']}\n"
                       f"    {record['feed']} · {record['url']}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it; nothing is marked sent.")
@click.option("--preview", "preview", type=click.Path(file_okay=False, path_type=Path),
              help="Write the digest as HTML, text, Slack JSON, chat markdown and outbox JSON into this folder; "
                   "nothing is sent or marked.")
@click.pass_obj
@guarded
def digest(obj: Context, dry_run: bool, preview: Path | None) -> None:
    """Build and send the digest now (every hit not yet in a digest). It counts as the digest of the latest
    scheduled time that has come: a service started afterwards does not send that one again. While the service
    runs, the digest is handed to it: it builds and sends it, and this command prints each channel's delivery."""
    from monitor.store import Store

    config = obj.config

    def rules():
        from monitor.rules.files import load_rulebook

        return load_rulebook(config.rules_dir)

    headings = TopicHeadings(config.rules_dir, config.state_dir, rules)
    if dry_run or preview:  # reads only: safe beside a running service
        pipeline = obj.reader(rules)
        pipeline.descriptions, pipeline.rule_errors = headings.descriptions, headings.errors
        with StageProgress() as progress, Store.open(config.db_path) as store:  # draws only on a terminal
            progress.step("building the digest")
            message = pipeline.build_digest(store, save=False)
        if preview:
            written = write_preview(message, preview)
            click.echo(f"digest preview ({len(message.items)} items, {message.data['header']}):")
            for path in written:
                click.echo(f"  {path}")
        else:
            click.echo(message.text)
        return
    from contextlib import ExitStack

    from monitor.cli.handed import hand_over, locked, report_deliveries
    from monitor.errors import AlreadyRunning
    from monitor.schedule import last_slot

    # sending takes the instance lock: a second sender beside the service would send the same queued messages.
    # While the service holds it, the digest is handed to the service, which builds and sends it.
    with ExitStack() as held:
        try:
            held.enter_context(locked(config, why="it is a `run --once` or another hand-run command, not the "
                                      "service: try again when it ends, or see the digest with `digest --dry-run`"))
        except AlreadyRunning as refused:
            answer, pid = hand_over(config, "digest", refused)
            click.echo(f"digest {answer['message']}: {answer['items']} items, handed to the running service "
                       f"(pid {pid}), which built it and sends it:")
            for line in report_deliveries(config, answer["message"]):
                click.echo(line)
            return
        pipeline = obj.sender(rules)
        pipeline.descriptions, pipeline.rule_errors = headings.descriptions, headings.errors
        with Store.open(config.db_path) as store, StageProgress() as progress:
            progress.step("building the digest")
            started = pipeline.clock()
            # it is the digest of the latest slot that has come (say 08:00, missed while the service was down):
            # claimed as the service claims it, so the service started again does not send that slot a second time
            slot = last_slot(started, config.digest.times, config.digest.timezone, config.digest.weekdays)
            if slot is not None:
                store.claim_slot("digest", slot, started)
            message = pipeline.build_digest(store)
            store.record_heartbeat("digest", started, pipeline.clock(), {"items": len(message.items)},
                                   pid=os.getpid())
            progress.step("delivering")
            report = pipeline.deliver(store)
    click.echo(f"digest {message.id}: {len(message.items)} items, {report.delivered} deliveries "
               "(sent by this command, holding the instance lock: no service is running)")
    for error in report.delivery_errors:
        click.echo(f"delivery failed: {error}", err=True)


class TopicHeadings:
    """A hand-run digest's topic headings and rule problems, from one load of the rules: a directory with a bad
    edit still gives a digest, its headings the descriptions of the last load that worked (kept in the state
    directory) and its health section the edit not applied, as the service's digest does."""

    def __init__(self, rules_dir: Path, state_dir: Path, load):
        self.rules_dir, self.state_dir, self.load = rules_dir, state_dir, load
        self._found: tuple[dict[str, str], list[str]] | None = None

    def _read(self) -> tuple[dict[str, str], list[str]]:
        if self._found is None:
            from monitor.errors import RuleError
            from monitor.rulecache import kept_descriptions, rule_descriptions

            try:  # kept between runs while the rule files and their loader are the same
                self._found = rule_descriptions(self.rules_dir, self.state_dir, self.load), []
            except RuleError as exc:
                self._found = kept_descriptions(self.state_dir), exc.located().splitlines()
        return self._found

    def descriptions(self) -> dict[str, str]:
        return self._read()[0]

    def errors(self) -> list[str]:
        return self._read()[1]


def write_preview(message, folder: Path) -> list[Path]:
    """The message as each channel would get it, named by its kind (digest or alert): .html (email), .txt (the
    email's text part and Apprise text), .slack.json (the Slack posts), .md (Apprise markdown), .json (outbox)."""
    from monitor.blocks import slack_posts
    from monitor.commonmark import render as commonmark

    folder.mkdir(parents=True, exist_ok=True)
    kind = message.kind
    files = {f"{kind}.html": message.html, f"{kind}.txt": message.text,
             f"{kind}.slack.json": json.dumps(slack_posts(message.data), ensure_ascii=False, indent=2) + "\n",
             f"{kind}.md": commonmark(message.data) + "\n",
             f"{kind}.json": json.dumps(message.data, ensure_ascii=False, indent=2) + "\n"}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in files]


def preview_release_alert(obj: Context, folder: Path, story: str | None) -> None:
    """Write the alert of release `story` (default: the newest release) as it would be sent now; reads only."""
    from monitor.rules.files import load_rulebook
    from monitor.store import Store

    pipeline = obj.pipeline(lambda: load_rulebook(obj.config.rules_dir))
    with Store.open(obj.config.db_path) as store:
        if story is None:
            newest = store.release_stories(limit=1)
            if not newest:
                raise click.ClickException("no releases recorded yet: there is no release alert to preview")
            story = str(newest[0]["story"])
        message, raised = pipeline.preview_alert(store, story)
    if message is None:
        raise click.ClickException(f"no story {story} with hits (see `news-monitor releases --json` for the "
                                   "release stories)")
    written = write_preview(message, folder)
    click.echo(f"alert preview of story {story}: {message.subject}")
    if not raised:
        click.echo("  (this story raised no alert - its reports did not pass alert_when, the release gate or "
                   "alerts.max_age - so this is its hits as an alert would show them)")
    for path in written:
        click.echo(f"  {path}")


RELEASES_SHOWN = 50  # `releases` on a screen: the newest 50 unless --limit or --all says otherwise


@main.command()
@click.argument("story", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per release event.")
@click.option("--since", help="Only releases first seen within this long, e.g. 30d.")
@click.option("--limit", type=click.IntRange(min=1),
              help=f"Only the newest N (default: {RELEASES_SHOWN} on screen, every one with --json).")
@click.option("--all", "show_all", is_flag=True, help="Every release, however many.")
@click.option("--preview", "preview", type=click.Path(file_okay=False, path_type=Path),
              help="Write the alert of release STORY (default: the newest) as HTML, text, Slack JSON, chat "
                   "markdown and outbox JSON into this folder; nothing is sent or marked.")
@click.pass_obj
@guarded
def releases(obj: Context, story: str | None, as_json: bool, since: str | None, limit: int | None,
             show_all: bool, preview: Path | None) -> None:
    """The release ledger: every reported release of prisoners, once, however many outlets reported it;
    oldest first. With --preview DIR [STORY]: the alert of one release (its `story` in `releases --json`),
    as each channel would get it."""
    if preview is not None:
        preview_release_alert(obj, preview, story)
        return
    if story is not None:
        raise click.UsageError("STORY goes with --preview DIR (the alert of that release)")
    from monitor.config import parse_duration
    from monitor.records import release_records
    from monitor.store import Store

    try:
        window = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if limit is None and not (as_json or show_all):
        limit = RELEASES_SHOWN
    with Store.open(obj.config.db_path) as store:
        events = release_records(store, limit=limit, since=window)
        total = store.count_release_stories(since=window) if limit is not None and len(events) == limit else None
    for record in events:
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(f"{record['date'] or '????-??-??'}  {record['number'] or '?':>4} released  "
                       f"{record['sources']} source{'s' if record['sources'] != 1 else ''}  first seen "
                       f"{record['first_seen']}\n    {record['title']}"
                       + (f"\n    names: {', '.join(record['names'])}" if record["names"] else "")
                       + (f"\n    to {record['destination']}" if record["destination"] else "")
                       + (f"; brokered by {record['broker']}" if record["broker"] else ""))
    if not as_json and total is not None and total > len(events):
        click.echo(f"(the newest {len(events):,} of {total:,} releases; --all or --limit N for more)")
    if not events and not as_json:
        click.echo("no releases recorded yet" if window is None else f"no releases first seen in the last {since}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
@click.pass_obj
@guarded
def prune(obj: Context, dry_run: bool) -> None:
    """Apply `retention:` now (the service does it daily): old article text, articles without hits and
    delivered messages; hits, stories and the release ledger are kept. While the service runs, it is handed to
    the service."""
    config = obj.config
    if not any(config.retention.model_dump().values()):
        click.echo("no retention configured (retention: article_text, non_hit_articles, delivered_messages): "
                   "nothing is dropped")
        return
    from contextlib import ExitStack

    from monitor.cli.handed import hand_over, locked
    from monitor.errors import AlreadyRunning
    from monitor.rules.files import load_rulebook
    from monitor.store import Store

    by = "by this command, holding the instance lock: no service is running"
    with ExitStack() as held:
        try:  # dropping rows takes the lock (the service keeps indexes of what it stored); a dry run only reads
            if not dry_run:
                held.enter_context(locked(config, why="it is a `run --once` or another hand-run command, not the "
                                          "service: try again when it ends"))
        except AlreadyRunning as refused:
            counts, pid = hand_over(config, "prune", refused)
            by = f"handed to the running service (pid {pid}), which did it"
        else:
            pipeline = obj.reader(lambda: load_rulebook(config.rules_dir))
            with StageProgress() as progress, Store.open(config.db_path) as store:  # draws only on a terminal
                counts = pipeline.prune(store, dry_run=dry_run, step=progress.step)
    verb = "would drop" if dry_run else "dropped"
    click.echo(f"{verb}: text of {counts['texts']} articles without hits, {counts['articles']} articles without "
               f"hits, {counts['messages']} delivered messages"
               + ("" if dry_run else f"; {counts['bytes']} bytes freed ({by})"))


@main.command()
@click.argument("query")
@click.option("--since", help="Only articles first seen within this long, e.g. 30d.")
@click.option("--feed", help="Only articles from this feed (its name or URL).")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
@guarded
def search(obj: Context, query: str, since: str | None, feed: str | None, limit: int, as_json: bool) -> None:
    """Search every stored article (not only hits), newest first, in the rules' query language:
    words, "phrases", prefix*, AND/OR/NOT, NEAR/n, title: and text:; case and diacritics folded."""
    from monitor.config import parse_duration
    from monitor.rules.query import parse
    from monitor.search import snippet, to_match
    from monitor.store import Store

    try:
        window = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    tree = parse(query)
    with Store.open(obj.config.db_path) as store:
        rows = store.search(to_match(tree), since=window, feed=feed, limit=limit)
    for row in rows:
        record = {"id": row["id"], "url": row["url"], "title": row["title"], "feed": row["feed_name"],
                  "published": row["published"], "first_seen": row["first_seen"],
                  "snippet": snippet(row["text"], tree)}
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(f"{(record['published'] or record['first_seen'])[:10]}  {record['feed']}  {record['title']}\n"
                       f"    {record['url']}\n    {record['snippet']}")
    if not rows and not as_json:
        click.echo("no stored article matches")


main.add_command(feeds_group, "feeds")
main.add_command(channels_group, "channels")
main.add_command(rules_group, "rules")
main.add_command(outbox_group, "outbox")
main.add_command(export_group, "export")
main.add_command(status_command, "status")
main.add_command(browse_command, "browse")
