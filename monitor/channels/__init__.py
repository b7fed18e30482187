"""Delivery channels behind one Protocol: file (the default outbox), email (SMTP), Slack webhooks, signed JSON
webhooks and Apprise (chat and push services; imported only when configured: an optional extra).

A channel sends what it is given, within the deadline it is given, and says how the server answered;
what to send, when, and what a failure means for the delivery is decided elsewhere.
"""

from __future__ import annotations

from typing import Protocol

from monitor.channels.email import EmailSender
from monitor.channels.file import FileSender
from monitor.channels.slack import SlackSender
from monitor.channels.webhook import WebhookSender
from monitor.config import AppriseChannel, Config, EmailChannel, FileChannel, SlackChannel, WebhookChannel
from monitor.errors import DeliveryError
from monitor.fetch import Fetcher
from monitor.models import Delivery


class Sender(Protocol):
    name: str

    def ref_for(self, delivery: Delivery) -> str | None:
        """The identifier receivers fold copies by (an email's Message-ID); None where there is none.
        Kept with the delivery at its first try, so every retry carries the same one."""

    def send(self, delivery: Delivery, deadline: float | None = None) -> dict[str, DeliveryError | None]:
        """Deliver one message before `deadline` (time.monotonic(); None: the channel's own limits).
        Email and Apprise return the answer per recipient (address, or service URL) they sent to (None:
        accepted; else why refused); other channels return {}.
        Raises DeliveryError when the message was not taken at all."""

    def close(self) -> None:
        """The round is over: end any session kept open across its messages."""


def build_senders(config: Config, fetcher: Fetcher) -> list[Sender]:
    """One sender per configured channel, in config order."""
    senders: list[Sender] = []
    for channel in config.channels:
        if isinstance(channel, FileChannel):
            senders.append(FileSender(channel.name, config.outbox_dir))
        elif isinstance(channel, EmailChannel):
            senders.append(EmailSender(channel, config.fetch))
        elif isinstance(channel, SlackChannel):
            senders.append(SlackSender(channel, fetcher))
        elif isinstance(channel, WebhookChannel):
            senders.append(WebhookSender(channel, fetcher))
        elif isinstance(channel, AppriseChannel):
            from monitor.channels.apprise import AppriseSender  # Apprise is an optional extra

            senders.append(AppriseSender(channel, config.fetch))
    return senders
