"""The Slack channel: posts the message to an incoming webhook through the fetch stage's client."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from monitor.blocks import slack_posts
from monitor.config import SlackChannel
from monitor.errors import DeliveryError, FetchError
from monitor.fetch import Fetcher
from monitor.models import Delivery


class SlackSender:
    def __init__(self, channel: SlackChannel, fetcher: Fetcher):
        self.channel = channel
        self.name = channel.name
        self.fetcher = fetcher

    def send(self, delivery: Delivery) -> None:
        try:
            for post in slack_posts(delivery.data):  # a long message is several numbered posts, in order
                self.fetcher.post_json(self.channel.webhook_url or "", json.dumps(post, ensure_ascii=False).encode())
        except FetchError as exc:
            # the webhook URL is a secret: report its host and the failure, never its path
            host = urlsplit(self.channel.webhook_url or "").hostname
            raise DeliveryError(exc.message, channel="slack", target=host) from None
