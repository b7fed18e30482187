"""`news-monitor channels`: the configured channels, and `channels test [NAME]` to send each a short test
message now and say what it answered (nothing is stored or marked)."""

from __future__ import annotations

import sys

import click

from monitor.cli.context import Context, guarded
from monitor.clock import utcnow
from monitor.errors import MonitorError
from monitor.models import Delivery


@click.group(invoke_without_command=True)
@click.pass_context
def channels(ctx: click.Context) -> None:
    """List the configured channels (name and type)."""
    if ctx.invoked_subcommand is None:
        for channel in ctx.obj.config.channels:
            click.echo(f"{channel.name}  ({channel.type})")


@channels.command("test")
@click.argument("name", required=False)
@click.pass_obj
@guarded
def test_channels(obj: Context, name: str | None) -> None:
    """Send a short test message to channel NAME (every channel when omitted) and report each answer."""
    from monitor.digest import build_message
    from monitor.rules.files import load_rulebook

    pipeline = obj.sender(lambda: load_rulebook(obj.config.rules_dir))  # descriptions for headings
    senders = [s for s in pipeline.senders if name is None or s.name == name]
    if not senders:
        known = ", ".join(s.name for s in pipeline.senders) or "none"
        click.echo(f"news-monitor: no channel named {name!r} (configured: {known})", err=True)
        sys.exit(2)
    from monitor.lock import lock_holder

    holder = lock_holder(obj.config.state_dir)
    if holder is not None:  # a test message is no queued message: it cannot make one go out twice
        click.echo(f"news-monitor (pid {holder}) is running on {obj.config.state_dir}: this sends only a test message "
                   "to each channel, beside it; queued messages stay its to send", err=True)
    message = build_message("digest", [], utcnow(), layout=pipeline.layout())
    failed = 0
    for sender in senders:
        data = {**message.data, "subject": f"news-monitor test message to channel {sender.name}",
                "header": f"Test message to channel {sender.name}: if you read this, delivery works"}
        delivery = Delivery(message_id=f"test-{message.id}", channel=sender.name, attempts=0, kind="test",
                            subject=data["subject"], text=f"{data['header']}.\n\n{message.text}",
                            html=message.html.replace(message.data["header"], data["header"], 1), data=data)
        try:
            answers = sender.send(delivery)
        except MonitorError as exc:
            failed += 1
            click.echo(f"{sender.name}: FAILED — {exc}")
            continue
        refused = {who: error for who, error in answers.items() if error is not None}
        if refused:  # an email recipient or an Apprise service said no while the others took it
            failed += 1
            reasons = "; ".join(f"{who}: {error.message}" for who, error in refused.items())
            took = [who for who in answers if who not in refused]
            click.echo(f"{sender.name}: FAILED — {reasons}" + (f" (accepted by {', '.join(took)})" if took else ""))
            continue
        click.echo(f"{sender.name}: ok — accepted the test message"
                   + (f" ({', '.join(answers)})" if len(answers) > 1 else ""))
    sys.exit(1 if failed else 0)
