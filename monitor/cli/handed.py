"""A command that writes (`digest`, `prune`) takes the instance lock, or, when the running service holds it, hands
itself to the service (monitor/handoff.py) and says so; anything else holding the lock (a `run --once`, another
hand-run command) is a refusal with the reason, exit 3."""

from __future__ import annotations

import os
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from monitor.clock import utcnow
from monitor.errors import AlreadyRunning

if TYPE_CHECKING:
    from monitor.config import Config

TAKE_WAIT = 60.0  # seconds the service has to take a request (it looks every second) before it is withdrawn
SEND_WAIT = 30.0  # seconds a handed digest waits to see its deliveries tried, for its report


def locked(config: Config, why: str) -> AbstractContextManager[None]:
    from monitor.lock import instance_lock

    return instance_lock(config.state_dir, why=why)


def service_holding(config: Config) -> int | None:
    """The pid of the service (`news-monitor run`) holding the lock; None when the holder is something else."""
    from monitor.lock import lock_holder
    from monitor.store import Store

    pid = lock_holder(config.state_dir)
    if not pid:
        return None
    with Store.open(config.db_path) as store:
        service = store.heartbeats().get("service")
    return pid if service is not None and service["pid"] == pid else None


def hand_over(config: Config, kind: str, refused: AlreadyRunning) -> tuple[dict, int]:
    """Hand `kind` to the running service and return (its answer, its pid); re-raise `refused` when the lock's
    holder is not the service."""
    from monitor import handoff

    pid = service_holding(config)
    if pid is None:
        raise refused
    click.echo(f"the service (pid {pid}) holds {config.state_dir}: handing the {kind} to it (one process at a time "
               "sends and deletes, so nothing goes out twice)", err=True)
    answer = handoff.ask(config.state_dir, kind, {"pid": os.getpid()}, TAKE_WAIT)
    if answer is None:
        raise click.ClickException(f"the running service (pid {pid}) did not take the {kind} within {TAKE_WAIT:g}s; "
                                   "nothing was done (`news-monitor status` shows whether it is stuck)")
    if "error" in answer:
        raise click.ClickException(f"the running service (pid {pid}) failed: {answer['error']}")
    return answer, pid


def report_deliveries(config: Config, message_id: str) -> list[str]:
    """How the service's delivery of `message_id` went, channel by channel, once each was tried (or SEND_WAIT)."""
    from monitor import delivery
    from monitor.render import one_line
    from monitor.store import Store

    deadline = time.monotonic() + SEND_WAIT
    while True:
        with Store.open(config.db_path) as store:
            rows = store.deliveries_of(message_id)
            held = {h["channel"]: h for h in store.channel_holds(utcnow())}
        waiting = [r for r in rows if r["channel"] not in held and r["status"] == delivery.PENDING
                   and (not r["attempts"] or r["attempt_started"])]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    lines = []
    for row in rows:
        state = delivery.state(row)
        why = row["reason"] or row["last_error"]
        if state == delivery.PENDING:
            hold = held.get(row["channel"])
            why = (f"the channel is held until {hold['until']}: {hold['reason']}" if hold
                   else "not tried yet: the service sends it (`news-monitor outbox` shows it)")
        lines.append(f"  {row['channel']}: {state}" + (f" — {one_line(why, 300)}" if why and state != "sent" else ""))
    return lines
