"""`news-monitor status`: is the service alive (lock holder, last cycle, next runs), what needs attention
(feeds, deliveries, rule edits), how big the database is; `--check` for health checks, `--json` for scripts."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from monitor.cli.context import Context, guarded
from monitor.cli.feeds import feed_health_line
from monitor.cli.outbox import delivery_line
from monitor.clock import utcnow
from monitor.errors import RuleError

EXIT_UNHEALTHY = 1


@click.command()
@click.option("--check", is_flag=True, help="Print one line; exit 1 when the service is stale or stopped, a "
              "delivery is dead, or every feed fails (for HEALTHCHECK and cron).")
@click.option("--json", "as_json", is_flag=True, help="Everything as one JSON object (times in UTC).")
@click.pass_obj
@guarded
def status(obj: Context, check: bool, as_json: bool) -> None:
    """Whether the service runs, its last cycle and next runs, feed health, queued deliveries, rules, size."""
    from monitor.health import Snapshot, assess
    from monitor.lock import lock_holder
    from monitor.rules.files import load_rulebook
    from monitor.store import Store

    config = obj.config
    try:
        book = load_rulebook(config.rules_dir)
        names, rule_errors = list(book.names), None
    except RuleError as exc:  # the service keeps the last good version of these rules
        names, rule_errors = [], str(exc)
    now = utcnow()
    with Store.open(config.db_path) as store:
        store.sync_feeds(config.feed_list())
        feeds_rows = store.feed_health()
        snap = Snapshot(pid=lock_holder(config.state_dir), heartbeats=store.heartbeats(), feeds=feeds_rows,
                        deliveries=store.delivery_counts(), next_poll=store.next_poll(), counts=store.counts(),
                        db_bytes=store.size_bytes(), rules=names, rule_errors=rule_errors)
        unsent = store.unsent_deliveries()
        holds = store.channel_holds(now)
    health = assess(snap, config, now)
    if as_json:
        click.echo(json.dumps(health, ensure_ascii=False))
    elif check:
        click.echo(f"unhealthy: {health['problems'][0]}" + (f" (+{len(health['problems']) - 1} more)"
                   if len(health["problems"]) > 1 else "") if health["problems"] else _healthy_line(health, now))
    else:
        _print(health, feeds_rows, unsent, holds, ZoneInfo(config.digest.timezone), now)
    if check and health["problems"]:
        sys.exit(EXIT_UNHEALTHY)


def _healthy_line(health: dict, now: datetime) -> str:
    cycle = health["last_cycle"]
    last = cycle["finished"] or cycle["started"]
    return f"healthy: pid {health['running']['pid']}, last cycle {_ago(last, now)}"


def _ago(stored: str, now: datetime) -> str:
    seconds = int((now - _moment(stored)).total_seconds())
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago" if seconds < 7200 else \
        f"{seconds // 3600}h ago"


def _moment(stored: str) -> datetime:
    return datetime.fromisoformat(stored.replace("Z", "+00:00"))


def _local(stored: str | None, zone: ZoneInfo) -> str:
    return _moment(stored).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if stored else "—"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def _print(health: dict, feeds_rows: list[dict], unsent: list[dict], holds: list[dict], zone: ZoneInfo,
           now: datetime) -> None:
    running = health["running"]
    click.echo("service: " + ("not running" if running is None else
                              f"running (pid {running['pid'] or '?'}"
                              + (f", since {_local(running['since'], zone)})" if running["since"] else ")")))
    cycle = health["last_cycle"]
    if cycle is None:
        click.echo("last cycle: none recorded yet")
    elif cycle["finished"] is None:
        click.echo(f"last cycle: began {_local(cycle['started'], zone)} ({_ago(cycle['started'], now)}), "
                   "still running")
    else:
        counts = cycle["counts"]
        click.echo(f"last cycle: {_local(cycle['finished'], zone)} ({_ago(cycle['finished'], now)}), took "
                   f"{cycle['seconds']:.1f}s: {counts.get('feeds_polled', 0)} feeds polled, "
                   f"{counts.get('new_articles', 0)} new articles, {counts.get('hits', 0)} hits, "
                   f"{counts.get('alerts', 0)} alerts")
    digest = health["last_digest"]
    if digest:
        click.echo(f"last digest: {_local(digest['finished'] or digest['started'], zone)}, "
                   f"{digest['counts'].get('items', 0)} items")
    next_poll = "no feeds" if health["next_poll"] is None else _local(health["next_poll"], zone)
    click.echo(f"next poll: {next_poll}; next digest: {_local(health['next_digest'], zone)}")
    database = health["database"]
    click.echo(f"{database['articles']} articles, {database['hits']} hits, {database['messages']} messages; "
               f"database {_size(database['bytes'])}")
    feeds = health["feeds"]
    failing = [f for f in feeds_rows if f["errors"] and not f["disabled"]]
    disabled = [f for f in feeds_rows if f["disabled"]]
    troubled = [f for f in feeds_rows if f["problems"].any and not f["errors"] and not f["disabled"]]
    click.echo(f"feeds: {feeds['ok'] + feeds['not_polled'] + feeds['partial']} ok or not polled yet, "
               f"{feeds['failing']} failing ({feeds['backing_off']} backing off), {feeds['disabled']} disabled"
               + (f"; {len(troubled)} with problems in their items" if troubled else ""))
    for row in failing + disabled + troubled:
        click.echo(f"  {row['name']}: {feed_health_line(row, now)}")
    pending = [d for d in unsent if d["status"] == "pending"]
    dead = [d for d in unsent if d["status"] == "dead"]
    click.echo(f"deliveries queued for retry: {len(pending)}")
    for row in pending:
        click.echo(f"  {delivery_line(row, now)}")
    for hold in holds:
        click.echo(f"  channel {hold['channel']} held until {hold['until']} (the server asked us to wait)")
    click.echo(f"deliveries dead: {len(dead)}" + (" (news-monitor outbox retry ID sends one again)" if dead else ""))
    for row in dead:
        click.echo(f"  {delivery_line(row, now)}")
    rules = health["rules"]
    if rules["errors"]:
        click.echo(f"rules: edits not applied (the running service keeps the last good version):\n{rules['errors']}")
    else:
        click.echo(f"rules: {len(rules['valid'])} valid ({', '.join(rules['valid'])})")
    click.echo("health: " + ("ok" if health["healthy"] else "; ".join(health["problems"])))
