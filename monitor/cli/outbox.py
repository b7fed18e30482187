"""`news-monitor outbox`: the messages not delivered yet — pending, retrying, in doubt after a crash
mid-send, dead — with why; `outbox retry ID | --all-dead` queues dead ones again and lifts a Retry-After
hold on their channels (the user asked to send now).

Retry only re-queues (one SQLite transaction) and sends nothing itself, so it works beside a running
service: it hands the deliveries to the service's delivery thread (or the next `run --once`) and says which.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from monitor import delivery
from monitor.cli.context import Context, guarded
from monitor.clock import utcnow


def when(stamp: str | None) -> str:
    from monitor.digest import local_time

    return f"{local_time(stamp, ZoneInfo('UTC'))} UTC" if stamp else "?"


def delivery_line(row: dict, now: datetime) -> str:
    """One undelivered message to one channel, and why, for `outbox` and `status`."""
    from monitor.render import one_line

    state = delivery.state(row)
    late = " (late)" if delivery.stale(row, now) and state != delivery.DEAD else ""
    head = (f"{row['message_id']}  {row['kind']:<6} -> {row['channel']}: {state}{late}, {row['attempts']} attempt"
            f"{'s' if row['attempts'] != 1 else ''}, queued {when(row['queued'])}")
    if state == "retrying" and row.get("next_attempt"):
        head += f", next try {when(row['next_attempt'])}"
    if state == "sending":
        head += f"; a send began {when(row['attempt_started'])} and did not finish (it is sent again, same Message-ID)"
    why = row.get("reason") or row.get("last_error")
    return head + (f"\n      {one_line(why, 400)}" if why else "")


def record(row: dict) -> dict:
    return {"message": row["message_id"], "kind": row["kind"], "subject": row["subject"], "channel": row["channel"],
            "state": delivery.state(row), "attempts": row["attempts"], "queued": row["queued"],
            "next_attempt": row["next_attempt"], "error": row["last_error"], "reason": row["reason"],
            "recipients": row["recipients"], "stale": delivery.stale(row, utcnow())}


def who_sends(config) -> str:
    """Retry hands the deliveries to whoever delivers next, and says who that is."""
    from monitor.cli.handed import service_holding
    from monitor.lock import lock_holder

    service = service_holding(config)
    if service is not None:
        return f"the running service (pid {service}) sends them in its next delivery round, within seconds"
    holder = lock_holder(config.state_dir)
    if holder is not None:
        return f"the news-monitor now running (pid {holder}) sends them if its round has not passed; else the next run"
    return "no service is running: `news-monitor run --once` (or starting the service) sends them"


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per undelivered message and channel.")
@click.pass_context
def outbox(ctx: click.Context, as_json: bool) -> None:
    """Messages not delivered yet (pending, retrying, dead) and why; `outbox retry` sends dead ones again."""
    if ctx.invoked_subcommand is None:
        _list(ctx.obj, as_json)


@guarded
def _list(obj: Context, as_json: bool) -> None:
    from monitor.render import one_line
    from monitor.store import Store

    now = utcnow()
    with Store.open(obj.config.db_path) as store:
        rows = store.unsent_deliveries()
        holds = store.channel_holds(now)
    if as_json:
        for row in rows:
            click.echo(json.dumps(record(row), ensure_ascii=False))
        return
    dead = sum(r["status"] == delivery.DEAD for r in rows)
    click.echo(f"{len(rows)} deliveries not made: {len(rows) - dead} pending or retrying, {dead} dead")
    for hold in holds:
        click.echo(f"  channel {hold['channel']} is held until {when(hold['until'])}: {one_line(hold['reason'], 300)}")
    for row in rows:
        click.echo("  " + delivery_line(row, now))
    if dead:
        click.echo("send dead ones again: news-monitor outbox retry ID  (or --all-dead)")


@outbox.command()
@click.argument("message_id", required=False)
@click.option("--all-dead", is_flag=True, help="Queue every dead delivery again.")
@click.pass_obj
@guarded
def retry(obj: Context, message_id: str | None, all_dead: bool) -> None:
    """Queue a message's undelivered deliveries again (due now, the give-up clock restarted, a server's
    Retry-After hold on their channels lifted)."""
    if bool(message_id) == all_dead:
        raise click.UsageError("give a message ID (from `news-monitor outbox`) or --all-dead")
    from monitor.render import one_line
    from monitor.store import Store

    now = utcnow()
    with Store.open(obj.config.db_path) as store:
        held = store.channel_holds(now)
        count = store.requeue(now, message_id, dead_only=all_dead)
        still = {hold["channel"] for hold in store.channel_holds(now)}
    if not count:
        raise click.ClickException(f"no undelivered message {message_id}" if message_id else "no dead deliveries")
    click.echo(f"{count} deliver{'y' if count == 1 else 'ies'} queued again; {who_sends(obj.config)}")
    for hold in (h for h in held if h["channel"] not in still):
        click.echo(f"channel {hold['channel']}: lifted the hold its server asked for until {when(hold['until'])} "
                   f"({one_line(hold['reason'], 200)}); if it is still busy, its next answer holds it again")
