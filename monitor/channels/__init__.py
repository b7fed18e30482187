"""Delivery channels behind one Protocol: file (the default outbox), email (SMTP) and Slack webhooks.

A channel sends what it is given; what to send, and when, is decided elsewhere.
"""

from __future__ import annotations

from typing import Protocol

from monitor.channels.email import EmailSender
from monitor.channels.file import FileSender
from monitor.channels.slack import SlackSender
from monitor.config import Config, EmailChannel, FileChannel
from monitor.fetch import Fetcher
from monitor.models import Delivery


class Sender(Protocol):
    name: str

    def send(self, delivery: Delivery) -> None:
        """Deliver one message; raise DeliveryError on failure (it stays pending and is retried)."""


def build_senders(config: Config, fetcher: Fetcher) -> list[Sender]:
    """One sender per configured channel, in config order."""
    senders: list[Sender] = []
    for channel in config.channels:
        if isinstance(channel, FileChannel):
            senders.append(FileSender(channel.name, config.outbox_dir))
        elif isinstance(channel, EmailChannel):
            senders.append(EmailSender(channel))
        else:
            senders.append(SlackSender(channel, fetcher))
    return senders
