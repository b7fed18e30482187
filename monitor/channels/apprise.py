"""The Apprise channel: chat and push services (Telegram, Discord, Teams, Matrix, ntfy, Gotify, ...) named by
Apprise URLs, each message rendered for the channel's format (escaped CommonMark, or plain text) within each
service's length limit. Each URL is a recipient, as an email address is: one that took the message is not
sent it again when another fails. Apprise makes its own connections, so every send runs inside
`guard.guarded_connections`: the address policy judges each socket on the address it actually connects to.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import apprise

from monitor.commonmark import clip_text, render
from monitor.delivery import webhook_failure
from monitor.digest import one_line
from monitor.errors import DeliveryError
from monitor.guard import guarded_connections
from monitor.models import Delivery

if TYPE_CHECKING:
    from monitor.config import AppriseChannel, FetchConfig

MAX_BODY = 4000  # even where a service takes more: a chat message longer than this is not read; the rest is elsewhere
MARKDOWN_MARGIN = 0.9  # room for what a service's own markdown dialect adds (Telegram's extra escapes)
# services that read markdown in any message, plain text included: feed text sent there as `text` could make links
_READ_MARKDOWN = {"discord", "fluxer", "fluxers", "guilded", "slack", "mmost", "mmosts", "rocket", "rockets"}
_STATUS = re.compile(r"(?:error=|HTTP[ /]?|status(?: code)?[ =:]+)(\d{3})\b", re.IGNORECASE)


def _asset() -> apprise.AppriseAsset:
    # nothing on disk (no cache of tokens), redirects not followed (a webhook that moved is a config problem,
    # as for our own webhooks), no :emoji: or template expansion of feed text
    return apprise.AppriseAsset(storage_mode="memory", http_redirects=False, interpret_emojis=False,
                                allow_templates=False, secure_logging=True)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://…" if "://" in url else "(no scheme)"


def _plugins(urls: list[str]) -> list[tuple[str, object | None]]:
    """(label, Apprise service or None when Apprise cannot read the URL). A label is the URL with its tokens
    masked, as Apprise prints it: what errors, `outbox` and the digest show, never the secret itself."""
    asset, out, seen = _asset(), [], set()
    for url in urls:
        plugin = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
        label = plugin.url(privacy=True).split("?", 1)[0] if plugin is not None else _scheme(url)
        while label in seen:
            label += "#"
        seen.add(label)
        out.append((label, plugin))
    return out


def check_urls(urls: list[str]) -> str | None:
    """Why these URLs cannot make a channel (the first problem), or None."""
    for n, (label, plugin) in enumerate(_plugins(urls), 1):
        if plugin is None:
            return (f"URL {n} ({label}) is not a URL Apprise can read: check its service's URL form in Apprise's "
                    "list of services (host, tokens, port)")
    return None


def reads_markdown(urls: list[str]) -> list[str]:
    """Labels of the services among `urls` that read markdown even in a plain-text message."""
    protocols = lambda p: {*(p if isinstance(p, (tuple, list)) else [p])}  # noqa: E731
    return [label for label, plugin in _plugins(urls) if plugin is not None
            and (protocols(plugin.protocol) | protocols(plugin.secure_protocol)) & _READ_MARKDOWN]


class AppriseSender:
    def __init__(self, channel: AppriseChannel, fetch: FetchConfig):
        self.channel = channel
        self.name = channel.name
        self.fetch = fetch
        self.services = _plugins(channel.resolved)
        for _, plugin in self.services:
            if plugin is not None and "rto=" not in plugin.url():  # Apprise waits 4 s for an answer by default
                plugin.socket_read_timeout = channel.timeout

    def ref_for(self, delivery: Delivery) -> None:
        return None  # chat services take no idempotency key

    def send(self, delivery: Delivery, deadline: float | None = None) -> dict[str, DeliveryError | None]:
        deadline = deadline if deadline is not None else time.monotonic() + 2 * self.channel.timeout
        answers: dict[str, DeliveryError | None] = {}
        todo = [(label, plugin) for label, plugin in self.services
                if delivery.recipients.get(label, {}).get("status") not in ("sent", "dead")]  # not taken before
        for n, (label, plugin) in enumerate(todo, 1):
            answers[label] = self._send_one(label, plugin, delivery, deadline)
            if answers[label] is None and delivery.progress is not None and n < len(todo):
                # committed before the next service is tried: a crash there does not send this one it again
                delivery.progress({label: {"status": "sent", "at": datetime.now(UTC).isoformat()}})
        failed = [a for a in answers.values() if a is not None]
        if failed and len(failed) == len(answers) and not any(a.permanent for a in failed):
            # none took it and none refused it: the services are down or slow; nothing more this round
            raise DeliveryError("; ".join(f"{a.target}: {a.message}" for a in failed), channel="apprise",
                                target=None, channel_down=True)
        return answers

    def _send_one(self, label: str, plugin: object | None, delivery: Delivery, deadline: float) -> DeliveryError | None:
        where = {"channel": "apprise", "target": label}
        if plugin is None:  # the check at start-up prevents it; a URL changed in the environment since may not
            return DeliveryError("not a URL Apprise can read", permanent=True, **where)
        timeout = min(self.channel.timeout, deadline - time.monotonic())
        if timeout <= 0:
            return DeliveryError("the round's time budget ran out", **where)
        title = f"news-monitor {delivery.kind}"  # no feed text: a title's format differs from service to service
        body, body_format = self._body(plugin, delivery, title)
        logs: list[str] = []
        app = apprise.Apprise(asset=plugin.asset)
        app.add(plugin)
        with guarded_connections(self.fetch) as refused:
            result = app.notify(body=body, title=title, body_format=body_format, timeout=timeout,
                                log_level=logging.WARNING, log_callback=lambda entry, _s: logs.append(entry.message))
        if result:
            return None
        if refused:  # the address policy refused every address: a config problem, as for a Slack webhook
            return DeliveryError(f"refused by the address policy: {refused[0]}", permanent=True, **where)
        said = one_line(logs[-1], 200) if logs else "the service did not take the message"
        if result.status == apprise.AppriseResultStatus.TIMEOUT:
            return DeliveryError(f"no answer within {timeout:g}s", **where)
        status = next((int(m.group(1)) for line in reversed(logs) for m in [_STATUS.search(line)] if m), None)
        permanent = webhook_failure(status)[0] if status is not None and status >= 300 else False
        return DeliveryError(said, permanent=permanent, **where)

    def _body(self, plugin, delivery: Delivery, title: str) -> tuple[str, str]:
        budget = min(MAX_BODY, plugin.body_maxlen or MAX_BODY)
        if plugin.title_maxlen <= 0:  # the service puts the title into the body
            budget -= len(title) + 2
        if self.channel.format == "markdown":
            return render(delivery.data, int(budget * MARKDOWN_MARGIN)), apprise.NotifyFormat.MARKDOWN
        return clip_text(delivery.text, budget), apprise.NotifyFormat.TEXT

    def close(self) -> None:
        """Each send opens and closes its own connections."""
