"""`news-monitor feeds`: every feed with its health, `feeds test URL` to try one feed now, and the feed list
in and out as OPML (`feeds import FILE.opml`, `feeds export`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.context import Context, guarded
from monitor.cli.progress import StageProgress
from monitor.clock import utcnow
from monitor.errors import MonitorError
from monitor.models import Feed, FeedProblems


@click.group(invoke_without_command=True)
@click.pass_context
def feeds(ctx: click.Context) -> None:
    """List configured feeds with their health (ok / failing since / backing off / disabled)."""
    if ctx.invoked_subcommand is None:
        _feeds_list(ctx.obj)


@guarded
def _feeds_list(obj: Context) -> None:
    from monitor.store import Store

    config = obj.config
    with Store.open(config.db_path) as store:
        store.sync_feeds(config.feed_list())
        rows = {r["url"]: r for r in store.feed_health()}
    now = utcnow()
    for feed in config.feed_list():
        click.echo(f"{feed.name}  {feed.url}\n    {feed_health_line(rows.get(feed.url, {}), now)}")


def feed_health_line(row: dict, now) -> str:
    """One line of health: ok or partial, failing since ..., backing off until ..., disabled, or moved; then
    what went wrong with its items in its last cycle with items (pages, extraction, items, repairs, held)."""
    from monitor.render import plural

    moved = f"; moved to {row['fetch_url']} (update monitor.yaml)" if row.get("fetch_url") else ""
    problems = problems_line(row.get("problems") or FeedProblems(), row.get("problems_at"))
    if row.get("disabled"):
        return f"disabled: {row.get('disabled_reason') or 'by the monitor'}{moved}"
    if row.get("errors"):
        line = f"failing since {row['failing_since']} ({plural(row['errors'], 'error')} in a row): {row['last_error']}"
        if row.get("next_check") and row["next_check"] > now.strftime("%Y-%m-%dT%H:%M:%SZ"):
            line += f"; backing off until {row['next_check']}"
        return line + moved + problems
    if row.get("last_ok"):
        state = "partial" if row.get("problems") and row["problems"].partial else "ok"
        return f"{state} (last success {row['last_ok']}, next check {row['next_check']}){moved}{problems}"
    return "not polled yet"


def problems_line(found: FeedProblems, when: str | None) -> str:
    """The feed's item problems of its last cycle with items, one clause each; "" when there were none."""
    if not found.any:
        return ""
    parts = [f"cut short: {found.partial}"] if found.partial else []
    for count, noun, error in ((found.pages_failed, "page fetch{es} failed", found.page_error),
                               (found.extracts_failed, "extraction{s} failed", found.extract_error),
                               (found.items_failed, "item{s} failed", found.item_error),
                               (found.repaired, "item{s} with broken characters repaired", found.repair)):
        if count:
            parts.append(f"{count} {noun.format(s='s' if count > 1 else '', es='es' if count > 1 else '')}"
                         f" (last: {error})")
    if found.held:
        parts.append(f"{found.held} new item{'s' * (found.held > 1)} waiting for the next cycle (limits)")
    return f"\n    last cycle with items ({when}): " + "; ".join(parts)


@feeds.command("test")
@click.argument("url")
@click.option("--limit", default=20, show_default=True, help="How many items to show.")
@click.pass_obj
@guarded
def feeds_test(obj: Context, url: str, limit: int) -> None:
    """Fetch and parse one feed now (nothing is stored) and show its items."""
    from monitor.feeds import read_feed
    from monitor.fetch import Fetcher, Request

    config = obj.config
    parsed, failure = None, None
    with StageProgress() as progress:  # draws only on a terminal: a slow feed can take the whole fetch deadline
        progress.step("fetching the feed")
        outcome = Fetcher(config.fetch).fetch(Request(url, "feed"))
        if outcome.error is None:
            progress.step("parsing it")
            try:
                parsed = read_feed(Feed(url, url, config.interval), outcome.response.body, outcome.response.headers,
                                   url=outcome.response.url)
            except MonitorError as exc:
                failure = exc
    if outcome.error is not None:
        click.echo(f"fetch failed: {outcome.error}", err=True)
        sys.exit(1)
    if parsed is None:
        click.echo(f"parse failed: {failure}", err=True)
        sys.exit(1)
    response = outcome.response
    items = parsed.items
    click.echo(f"{url}: HTTP {response.status}, {len(response.body)} bytes in {outcome.seconds:.2f}s, "
               f"{len(items)} items" + (f", moved permanently to {response.permanent_redirect}"
                                        if response.permanent_redirect else ""))
    if parsed.partial:
        click.echo(f"partial: {parsed.partial}")
    for repair in parsed.repairs:
        click.echo(f"repaired: {repair}")
    for item in items[:limit]:
        when = item.published.strftime("%Y-%m-%d %H:%M") if item.published else "no date"
        click.echo(f"- {when}  {item.title}\n    {item.url or '(no link)'}")


@feeds.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@guarded
def feeds_import(obj: Context, file: Path) -> None:
    """Add the feeds of an OPML file (from a feed reader) to monitor.yaml, keeping its comments; feeds
    already configured are skipped. A running service polls the new feeds after it is restarted."""
    from monitor.config import load_config
    from monitor.feedlist import add_feeds
    from monitor.opml import read_opml

    load_config(obj.config_path)  # the config as it is must be valid before it is edited
    found = read_opml(file.read_bytes(), where=str(file))
    added, skipped = add_feeds(obj.config_path, found)
    for feed in added:
        folder = f"  [{' / '.join(feed.folders)}]" if feed.folders else ""
        click.echo(f"added    {feed.title or '(no title)'}  {feed.url}{folder}")
    for feed in skipped:
        click.echo(f"skipped  {feed.title or '(no title)'}  {feed.url}  (already configured)")
    click.echo(f"{len(added)} feed{'s' if len(added) != 1 else ''} added to {obj.config_path}, {len(skipped)} skipped")


@feeds.command("export")
@click.pass_obj
@guarded
def feeds_export(obj: Context) -> None:
    """Print the configured feeds as OPML 2.0, for a feed reader."""
    from monitor.opml import write_opml

    click.echo(write_opml([(feed.name, feed.url) for feed in obj.config.feed_list()]), nl=False)
