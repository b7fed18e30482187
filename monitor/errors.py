"""The one exception tree; third-party errors are wrapped at the stage boundary. Callers read fields, never
the text: `stage`, `message` (the bare reason), `url`, `channel`.
    MonitorError
    ├── ConfigError               the config file or environment is invalid (file:line: what)
    ├── RuleError                 a rule file or query is invalid (file:line:col: what)
    │   └── RuleSyntaxError       a query does not parse (line and column in the query)
    ├── AlreadyRunning            another process holds the state directory (stage "service")
    ├── FetchError                an HTTP request failed (stage "fetch"): BlockedAddressError (refused by
    │                             policy), TooLargeError (size cap), HTTPStatusError (non-success status)
    ├── FeedError                 fetched bytes are not a usable feed (stage "feeds")
    ├── ExtractError              a page could not be turned into text (stage "extract")
    └── DeliveryError             a channel failed to deliver a message (stage "channel"): temporary or permanent
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error news-monitor raises on purpose. Its parts are fields, so callers read them
    rather than parse the text: `stage`, `message` (the bare reason), `url` and `channel` when known."""

    stage = "monitor"

    def __init__(self, message: str, *, url: str | None = None, channel: str | None = None):
        self.message = message
        self.url = url
        self.channel = channel
        super().__init__(self.describe())

    def describe(self) -> str:
        """The text users read (logs, `feeds`, the digest's health section)."""
        return self.message


class _StagePrefixed(MonitorError):
    """Errors whose text reads "stage: url: reason"."""

    def describe(self) -> str:
        return ": ".join(part for part in (self.stage, self.url, self.message) if part)


class ConfigError(MonitorError):
    """The configuration is invalid; the message names the file and line."""

    stage = "config"


class RuleError(MonitorError):
    """A rule file or rule query is invalid; the message names file:line:col."""

    stage = "rules"

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.path = path
        self.line = line
        self.column = column
        super().__init__(message)

    def describe(self) -> str:
        return self.located()

    def located(self) -> str:
        where = [str(p) for p in (self.path, self.line, self.column) if p is not None]
        return f"{':'.join(where)}: {self.message}" if where else self.message


class RuleSyntaxError(RuleError):
    """A query that does not parse; `line` and `column` (1-based) point into the query."""


class AlreadyRunning(MonitorError):
    """Another news-monitor process holds this state directory."""

    stage = "service"


class FetchError(_StagePrefixed):
    """An HTTP request failed; `url` says which."""

    stage = "fetch"

    def at(self, url: str) -> FetchError:
        """This error, located at `url` when it was raised without one."""
        if not self.url:
            self.url = url
            self.args = (self.describe(),)
        return self


class BlockedAddressError(FetchError):
    """The URL, or an address its host resolves to, is refused by the address policy."""


class TooLargeError(FetchError):
    """The decoded response body passed the configured size cap."""


class HTTPStatusError(FetchError):
    """The server answered with a status we treat as failure."""

    def __init__(self, message: str, *, url: str | None = None, status: int = 0,
                 retry_after: str | None = None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(message, url=url)


class FeedError(_StagePrefixed):
    """Fetched bytes could not be parsed as a feed; `url` is the feed's."""

    stage = "feeds"


class ExtractError(_StagePrefixed):
    """A page could not be turned into article text."""

    stage = "extract"


class DeliveryError(MonitorError):
    """A channel failed to deliver a message. `channel` is the channel's type ("file", "email", "slack"),
    `target` where it sent (a directory, host:port, a webhook's host). `permanent`: the server refused it
    for good (SMTP 5xx, webhook 400/403/404/410, a refused login); `channel_down`: the channel itself
    failed (unreachable, timed out, rate-limited, 5xx), so nothing more is sent to it this round;
    `retry_after`: the server's Retry-After header, as sent. (What of a message did arrive before a failure
    is committed as it arrives, through the delivery's `progress`.)"""

    stage = "channel"

    def __init__(self, message: str, *, channel: str, target: str | None, permanent: bool = False,
                 channel_down: bool = False, retry_after: str | None = None):
        self.target = target
        self.permanent = permanent
        self.channel_down = channel_down
        self.retry_after = retry_after
        super().__init__(message, channel=channel)

    def describe(self) -> str:
        return ": ".join(part for part in (self.channel, self.target, self.message) if part)
