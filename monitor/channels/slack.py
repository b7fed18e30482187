"""The Slack channel: posts the message to an incoming webhook through the fetch stage's client, and
says how Slack answered: the HTTP status and body (404 no_service, 410 channel_is_archived are
refusals for good; 429 and 5xx are Slack being busy or down, with its Retry-After)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

from monitor.blocks import slack_posts
from monitor.channels.posting import post_failure
from monitor.config import SlackChannel
from monitor.errors import DeliveryError, FetchError
from monitor.fetch import Fetcher
from monitor.models import Delivery

POSTS = "slack posts"  # the progress key: how many posts of a long message Slack has taken


class SlackSender:
    def __init__(self, channel: SlackChannel, fetcher: Fetcher):
        self.channel = channel
        self.name = channel.name
        self.fetcher = fetcher

    def ref_for(self, delivery: Delivery) -> None:
        return None  # an incoming webhook takes no idempotency key: a repeated post shows twice

    def send(self, delivery: Delivery, deadline: float | None = None) -> dict[str, DeliveryError | None]:
        # the webhook URL is a secret: errors name its host and the failure, never its path
        where = {"channel": "slack", "target": urlsplit(self.channel.webhook_url or "").hostname}
        posts = slack_posts(delivery.data)  # a long message is several numbered posts, in order
        done = int(delivery.recipients.get(POSTS, {}).get("count", 0))  # taken by an earlier try
        for n in range(done, len(posts)):
            try:
                body = json.dumps(posts[n], ensure_ascii=False).encode()
                self.fetcher.post_json(self.channel.webhook_url or "", body,
                                       deadline=None if deadline is None else max(0.5, deadline - time.monotonic()))
            except FetchError as exc:
                raise post_failure(exc, where, self._reason) from None
            if delivery.progress is not None and n + 1 < len(posts):
                # committed before the next post: whatever stops us (a refusal, a crash, a stop), the
                # retry starts at the first post Slack has not taken (the last post's record is the send's)
                delivery.progress({POSTS: {"status": "sent", "count": n + 1}})
        return {}

    def _reason(self, exc: FetchError) -> str:
        url = self.channel.webhook_url or ""
        return exc.message.replace(url, urlsplit(url).hostname or "webhook") if url else exc.message

    def close(self) -> None:
        """Each post opens and closes its own connection."""
