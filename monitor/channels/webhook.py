"""The generic webhook channel: POSTs each message's outbox JSON (byte for byte what the file outbox writes)
to the user's URL through the fetch stage's client, signed as Standard Webhooks says (standardwebhooks.com):
`webhook-id` (the message id, the same on every retry: the idempotency key; also sent as `Idempotency-Key`),
`webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
(`v1,` + base64 HMAC-SHA256 of "id.timestamp.body"), so a receiver can check who sent it, refuse a replay
older than its tolerance (the spec says 5 minutes), and drop a retried duplicate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from monitor.channels.file import outbox_json
from monitor.channels.posting import post_failure
from monitor.config import WebhookChannel
from monitor.errors import DeliveryError, FetchError
from monitor.fetch import Fetcher
from monitor.models import Delivery


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for this body, id and timestamp."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(key: bytes, webhook_id: str, body: bytes, now: float) -> dict[str, str]:
    timestamp = int(now)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, webhook_id, timestamp, body), "Idempotency-Key": webhook_id}


class WebhookSender:
    def __init__(self, channel: WebhookChannel, fetcher: Fetcher, clock: Callable[[], float] = time.time):
        self.channel = channel
        self.name = channel.name
        self.fetcher = fetcher
        self.clock = clock

    def ref_for(self, delivery: Delivery) -> str:
        return delivery.message_id  # the webhook-id: every retry of this message carries it

    def send(self, delivery: Delivery, deadline: float | None = None) -> dict[str, DeliveryError | None]:
        where = {"channel": "webhook", "target": urlsplit(self.channel.url).hostname}
        body = outbox_json(delivery.data).encode()
        headers = signed_headers(self.channel.secret or b"", delivery.ref or self.ref_for(delivery), body,
                                 self.clock())
        try:
            self.fetcher.post_json(self.channel.url, body, headers=headers,
                                   deadline=None if deadline is None else max(0.5, deadline - time.monotonic()))
        except FetchError as exc:
            raise post_failure(exc, where) from None
        return {}

    def close(self) -> None:
        """Each post opens and closes its own connection."""
