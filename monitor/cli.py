"""The `news-monitor` command line: run (the service, or --once), hits, digest, feeds, rules check.

Each command loads the config, builds the pipeline and calls it; no logic lives here that the
service also needs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import click

from monitor import __version__
from monitor.channels import build_senders
from monitor.config import Config, load_config, parse_duration
from monitor.errors import ConfigError, MonitorError, RuleError
from monitor.fetch import Fetcher
from monitor.pipeline import Pipeline, utcnow
from monitor.rules.files import RuleBook, RuleSource, load_rulebook
from monitor.rules.matching import match_article
from monitor.service import AlreadyRunning, Service, instance_lock
from monitor.store import Store

EXIT_INVALID = 2  # the config or the rules are invalid
EXIT_BUSY = 3  # another process holds the state directory
log = logging.getLogger("monitor")


class _Context:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def pipeline(self, rules) -> Pipeline:
        fetcher = Fetcher(self.config.fetch)
        return Pipeline(self.config, rules, fetcher, build_senders(self.config, fetcher))


def _fail(exc: MonitorError, code: int) -> None:
    click.echo(f"news-monitor: {exc}", err=True)
    sys.exit(code)


def _guarded(fn):
    """Invalid config or rules -> clear message, exit 2; a busy state dir -> exit 3."""
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, RuleError) as exc:
            _fail(exc, EXIT_INVALID)
        except AlreadyRunning as exc:
            _fail(exc, EXIT_BUSY)
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(path_type=Path), envvar="MONITOR_CONFIG",
              default="monitor.yaml", show_default=True, help="Config file (env MONITOR_CONFIG).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
@click.version_option(__version__, prog_name="news-monitor")
@click.pass_context
def main(ctx: click.Context, config_path: Path, verbose: bool) -> None:
    """Scheduled news monitor: feeds -> article text -> rules -> deduplicated hits -> digests and alerts."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    ctx.obj = _Context(config_path)


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed now, process, send due alerts, and exit.")
@click.pass_obj
@_guarded
def run(obj: _Context, once: bool) -> None:
    """Run the monitor: a long-lived service, or one full cycle with --once."""
    config = obj.config
    source = RuleSource(config.rules_dir, log)
    source.current()  # invalid rules stop us here, before anything is fetched
    pipeline = obj.pipeline(source.current)
    pipeline.rule_errors = lambda: [e.located() for e in source.errors]
    with instance_lock(config.state_dir):
        if not once:
            Service(pipeline, watch_rules=source.current).run()
            return
        with Store.open(config.db_path) as store:
            report = pipeline.run_cycle(store, force=True)
        click.echo(report.summary())  # per-feed and delivery errors were logged as they happened


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--since", help="Only hits first seen within this long, e.g. 24h or 7d.")
@click.option("--rule", help="Only articles that hit this rule.")
@click.pass_obj
@_guarded
def hits(obj: _Context, as_json: bool, since: str | None, rule: str | None) -> None:
    """List stored hits, oldest first."""
    try:
        window = utcnow() - timedelta(seconds=parse_duration(since)) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    with Store.open(obj.config.db_path) as store:
        rows = store.hits(since=window, rule=rule)
    for row in rows:
        record = {"url": row["canonical_url"] or row["url"], "title": row["title"], "feed": row["feed_name"],
                  "published": row["published"], "rules": row["rules"], "story": row["story"],
                  "first_seen": row["first_seen"], "id": row["id"], "guid": row["guid"],
                  "feed_url": row["feed_url"], "text_source": row["text_source"],
                  "snippet": row["snippet"], "alerted": row["alerted"], "language": row["language"]}
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            click.echo(f"{record['first_seen']}  [{', '.join(record['rules'])}]  {record['title']}\n"
                       f"    {record['feed']} · {record['url']}")


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the digest instead of sending it; nothing is marked sent.")
@click.pass_obj
@_guarded
def digest(obj: _Context, dry_run: bool) -> None:
    """Build and send the digest now (every hit not yet in a digest)."""
    config = obj.config
    pipeline = obj.pipeline(lambda: load_rulebook(config.rules_dir))
    with Store.open(config.db_path) as store:
        message = pipeline.build_digest(store, save=not dry_run)
        if dry_run:
            click.echo(message.text)
            return
        report = pipeline.deliver(store)
    click.echo(f"digest {message.id}: {len(message.items)} items, {report.delivered} deliveries")
    for error in report.delivery_errors:
        click.echo(f"delivery failed (will retry): {error}", err=True)


@main.group(invoke_without_command=True)
@click.pass_context
def feeds(ctx: click.Context) -> None:
    """List configured feeds with their health (ok / failing since / backing off / disabled)."""
    if ctx.invoked_subcommand is None:
        _feeds_list(ctx.obj)


@_guarded
def _feeds_list(obj: _Context) -> None:
    config = obj.config
    with Store.open(config.db_path) as store:
        store.sync_feeds(config.feed_list())
        rows = {r["url"]: r for r in store.feed_health()}
    now = utcnow()
    for feed in config.feed_list():
        click.echo(f"{feed.name}  {feed.url}\n    {feed_health_line(rows.get(feed.url, {}), now)}")


def feed_health_line(row: dict, now) -> str:
    """One line of health: ok, failing since ..., backing off until ..., disabled, or moved."""
    moved = f"; moved to {row['fetch_url']} (update monitor.yaml)" if row.get("fetch_url") else ""
    if row.get("disabled"):
        return f"disabled: {row.get('disabled_reason') or 'by the monitor'}{moved}"
    if row.get("errors"):
        line = f"failing since {row['failing_since']} ({row['errors']} errors in a row): {row['last_error']}"
        if row.get("next_check") and row["next_check"] > now.strftime("%Y-%m-%dT%H:%M:%SZ"):
            line += f"; backing off until {row['next_check']}"
        return line + moved
    if row.get("last_ok"):
        return f"ok (last success {row['last_ok']}, next check {row['next_check']}){moved}"
    return "not polled yet"


@feeds.command("test")
@click.argument("url")
@click.option("--limit", default=20, show_default=True, help="How many items to show.")
@click.pass_obj
@_guarded
def feeds_test(obj: _Context, url: str, limit: int) -> None:
    """Fetch and parse one feed now (nothing is stored) and show its items."""
    from monitor.feeds import parse_feed
    from monitor.fetch import Request
    from monitor.models import Feed

    config = obj.config
    outcome = Fetcher(config.fetch).fetch(Request(url, "feed"))
    if outcome.error is not None:
        click.echo(f"fetch failed: {outcome.error}", err=True)
        sys.exit(1)
    response = outcome.response
    try:
        items = parse_feed(Feed(url, url, config.interval), response.body, response.headers, url=response.url)
    except MonitorError as exc:
        click.echo(f"parse failed: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{url}: HTTP {response.status}, {len(response.body)} bytes in {outcome.seconds:.2f}s, "
               f"{len(items)} items" + (f", moved permanently to {response.permanent_redirect}"
                                        if response.permanent_redirect else ""))
    for item in items[:limit]:
        when = item.published.strftime("%Y-%m-%d %H:%M") if item.published else "no date"
        click.echo(f"- {when}  {item.title}\n    {item.url or '(no link)'}")


@main.command()
@click.pass_obj
@_guarded
def status(obj: _Context) -> None:
    """What the monitor holds and what needs attention: counts, feed health, queued deliveries, rules."""
    config = obj.config
    with Store.open(config.db_path) as store:
        store.sync_feeds(config.feed_list())
        counts = store.counts()
        feeds_rows = store.feed_health()
        pending = [d for d in store.deliveries() if d["status"] == "pending"]
    failing = [f for f in feeds_rows if f["errors"] and not f["disabled"]]
    disabled = [f for f in feeds_rows if f["disabled"]]
    click.echo(f"{counts['articles']} articles, {counts['hits']} hits, {counts['messages']} messages")
    click.echo(f"feeds: {len(feeds_rows) - len(failing) - len(disabled)} ok or not polled yet, "
               f"{len(failing)} failing, {len(disabled)} disabled")
    now = utcnow()
    for row in failing + disabled:
        click.echo(f"  {row['name']}: {feed_health_line(row, now)}")
    click.echo(f"deliveries queued for retry: {len(pending)}")
    for row in pending:
        click.echo(f"  {row['message_id']} -> {row['channel']}: {row['attempts']} attempts, {row['last_error']}")
    try:
        book = load_rulebook(config.rules_dir)
        click.echo(f"rules: {len(book.rules)} valid ({', '.join(book.names)})")
    except RuleError as exc:  # the service keeps the last good version of these rules
        click.echo(f"rules: edits not applied (the running service keeps the last good version):\n{exc}")


@main.group()
def rules() -> None:
    """Rule files: check them."""


@rules.command("check")
@click.pass_obj
@_guarded
def rules_check(obj: _Context) -> None:
    """Validate every rule file and run every rule's examples."""
    book = load_rulebook(obj.config.rules_dir)
    failures = _example_failures(book)
    for failure in failures:
        click.echo(failure, err=True)
    click.echo(f"{len(book.rules)} rules, {sum(len(r.must_match) + len(r.must_not_match) for r in book.rules)} "
               f"examples, {len(failures)} failing")
    if failures:
        sys.exit(EXIT_INVALID)


def _example_failures(book: RuleBook) -> list[str]:
    failures = []
    for rule in book.rules:
        for text, expected in [(t, True) for t in rule.must_match] + [(t, False) for t in rule.must_not_match]:
            matched = any(h.rule == rule.name for h in match_article(book, "", text))
            if matched != expected:
                failures.append(f"{rule.path}: example {'should' if expected else 'should not'} match: {text!r}")
    return failures


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
