"""The one exception tree of news-monitor; third-party errors are wrapped at the stage boundary.

    MonitorError                  root: everything we raise on purpose
    ├── ConfigError               the config file or environment is invalid (file:line: what)
    ├── RuleError                 a rule file or query is invalid (file:line:col: what)
    ├── FetchError                an HTTP request failed (stage "fetch")
    │   ├── BlockedAddressError   the URL or an address it resolves to is refused by policy
    │   ├── TooLargeError         the decoded body passed the size cap
    │   └── HTTPStatusError       the server answered with a non-success status
    ├── FeedError                 fetched bytes are not a usable feed (stage "feeds")
    ├── ExtractError              a page could not be turned into text (stage "extract")
    └── DeliveryError             a channel failed to deliver a message (stage "channel")
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The configuration is invalid; the message names the file and line."""


class RuleError(MonitorError):
    """A rule file or rule query is invalid; the message names file:line:col."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.located())

    def located(self) -> str:
        where = [str(p) for p in (self.path, self.line, self.column) if p is not None]
        return f"{':'.join(where)}: {self.message}" if where else self.message


class FetchError(MonitorError):
    """An HTTP request failed; `url` says which."""

    def __init__(self, message: str, *, url: str | None = None):
        self.url = url
        super().__init__(f"fetch: {url}: {message}" if url else f"fetch: {message}")


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


class FeedError(MonitorError):
    """Fetched bytes could not be parsed as a feed."""


class ExtractError(MonitorError):
    """A page could not be turned into article text."""


class DeliveryError(MonitorError):
    """A channel failed to deliver a message; it stays pending and is retried."""
