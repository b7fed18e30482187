"""`news-monitor feeds`: every feed with its health, and `feeds test URL` to try one feed now."""

from __future__ import annotations

import sys

import click

from monitor.cli.context import Context, guarded
from monitor.errors import MonitorError
from monitor.feeds import read_feed
from monitor.fetch import Fetcher, Request
from monitor.models import Feed, FeedProblems
from monitor.pipeline import utcnow
from monitor.render import plural
from monitor.store import Store


@click.group(invoke_without_command=True)
@click.pass_context
def feeds(ctx: click.Context) -> None:
    """List configured feeds with their health (ok / failing since / backing off / disabled)."""
    if ctx.invoked_subcommand is None:
        _feeds_list(ctx.obj)


@guarded
def _feeds_list(obj: Context) -> None:
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

    config = obj.config
    outcome = Fetcher(config.fetch).fetch(Request(url, "feed"))
    if outcome.error is not None:
        click.echo(f"fetch failed: {outcome.error}", err=True)
        sys.exit(1)
    response = outcome.response
    try:
        parsed = read_feed(Feed(url, url, config.interval), response.body, response.headers, url=response.url)
    except MonitorError as exc:
        click.echo(f"parse failed: {exc}", err=True)
        sys.exit(1)
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
