"""Delivery channels behind one Protocol: file (the default outbox), email (SMTP), Slack webhooks, signed JSON
webhooks and Apprise (chat and push services; imported only when configured: an optional extra).

A channel sends what it is given, within the deadline it is given, and says how the server answered;
what to send, when, and what a failure means for the delivery is decided elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from monitor.config import AppriseChannel, Config, EmailChannel, FileChannel, SlackChannel, WebhookChannel
from monitor.errors import DeliveryError
from monitor.models import Delivery

if TYPE_CHECKING:
    from monitor.fetch import Fetcher

# Each channel's module (and its libraries: smtplib, aiohttp through the fetcher) is imported only when that
# channel is configured: a digest for the file outbox alone imports none of them.


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


def posts_over_http(config: Config) -> bool:
    """Whether a configured channel posts through the fetcher (Slack, webhook)."""
    return any(isinstance(channel, SlackChannel | WebhookChannel) for channel in config.channels)


def build_senders(config: Config, fetcher: Fetcher | None) -> list[Sender]:
    """One sender per configured channel, in config order. `fetcher` may be None when no channel posts over
    HTTP (posts_over_http)."""
    senders: list[Sender] = []
    for channel in config.channels:
        if isinstance(channel, FileChannel):
            from monitor.channels.file import FileSender

            senders.append(FileSender(channel.name, config.outbox_dir))
        elif isinstance(channel, EmailChannel):
            from monitor.channels.email import EmailSender

            senders.append(EmailSender(channel, config.fetch))
        elif isinstance(channel, SlackChannel | WebhookChannel):
            if fetcher is None:
                raise ValueError("build_senders: a Slack or webhook channel needs the fetcher")
            if isinstance(channel, SlackChannel):
                from monitor.channels.slack import SlackSender

                senders.append(SlackSender(channel, fetcher))
            else:
                from monitor.channels.webhook import WebhookSender

                senders.append(WebhookSender(channel, fetcher))
        elif isinstance(channel, AppriseChannel):
            from monitor.channels.apprise import AppriseSender  # Apprise is an optional extra

            senders.append(AppriseSender(channel, config.fetch))
    return senders
