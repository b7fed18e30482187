"""What a failed POST to a receiver (a Slack or a JSON webhook) means for its delivery: the receiver's HTTP
status decides (`delivery.webhook_failure`), an address the policy refuses is a config problem, and an
unreachable or silent receiver is the channel down."""

from __future__ import annotations

from collections.abc import Callable

from monitor.delivery import webhook_failure
from monitor.digest import one_line
from monitor.errors import BlockedAddressError, DeliveryError, FetchError, HTTPStatusError


def post_failure(exc: FetchError, where: dict, describe: Callable[[FetchError], str] = lambda e: e.message,
                 ) -> DeliveryError:
    """The DeliveryError for `exc`; `describe` words a refusal or a network error (e.g. without a secret URL)."""
    if isinstance(exc, HTTPStatusError):
        permanent, down = webhook_failure(exc.status)
        return DeliveryError(one_line(exc.message, 200), permanent=permanent, channel_down=down,
                             retry_after=exc.retry_after, **where)
    if isinstance(exc, BlockedAddressError):
        return DeliveryError(describe(exc), permanent=True, **where)
    return DeliveryError(describe(exc), channel_down=True, **where)
