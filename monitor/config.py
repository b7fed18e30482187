"""Reads monitor.yaml and the environment (secrets, with *_FILE variants) into one validated Config.

The Config object is passed to whoever needs it; nothing imports it as a global.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor import yamlfile
from monitor.addresses import check_url
from monitor.configcache import ParsedConfigCache
from monitor.errors import BlockedAddressError, ConfigError
from monitor.models import Feed

DEFAULT_INTERVAL = 15 * 60
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3}


def parse_duration(value: object) -> int:
    """'15m', '2h', '30s', '7d' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, not a boolean")
    if isinstance(value, (int, float)):
        seconds = int(value)
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", str(value).lower())
        if not match:
            raise ValueError(f"expected a duration such as 30s, 15m, 2h or 7d, got {value!r}")
        seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def parse_size(value: object) -> int:
    """'10MB', '512kB' or a number of bytes -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 10MB")
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?b?)\s*", str(value).lower())
    if not match:
        raise ValueError(f"expected a size such as 5MB, got {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def _http_url(what: str, v: str) -> str:
    if not re.match(r"(?i)^https?://[^/\s]+", v):
        raise ValueError(f"{what} url must be http(s)://..., got {v!r}")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Duration = Annotated[int, Field(gt=0)]


class FeedConfig(_Strict):
    url: StrictStr
    name: StrictStr | None = None
    interval: int | None = None

    _interval = field_validator("interval", mode="before")(
        lambda v: None if v is None else parse_duration(v))

    _http_url = field_validator("url")(lambda v: _http_url("feed", v))


class FetchConfig(_Strict):
    allow_private_networks: StrictBool = False
    allow_networks: list[StrictStr] = Field(default_factory=list)  # e.g. an intranet: ["10.20.0.0/16"]
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=20.0, gt=0)
    deadline: float = Field(default=60.0, gt=0)  # total seconds for one request, body included
    max_feed_bytes: int = Field(default=10 * 1024**2, gt=0)
    max_page_bytes: int = Field(default=5 * 1024**2, gt=0)
    concurrency: int = Field(default=20, ge=1)
    per_host: int = Field(default=4, ge=1)
    fetch_pages: StrictBool = True
    user_agent: StrictStr = "news-monitor/0.1 (+https://github.com/news-monitor/news-monitor)"

    _sizes = field_validator("max_feed_bytes", "max_page_bytes", mode="before")(
        lambda v: parse_size(v))

    _networks = field_validator("allow_networks")(lambda v: _cidrs(v))


def _cidrs(v: list[str]) -> list[str]:
    for net in v:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ValueError(f"not a network: {net!r} (use CIDR, e.g. 10.20.0.0/16)") from None
    return [str(ipaddress.ip_network(n, strict=False)) for n in v]


class ExtractConfig(_Strict):
    workers: int | None = Field(default=None, ge=0)  # worker processes; None: one per core; 0: in-process
    timeout: float = Field(default=10.0, gt=0)  # seconds one page may take before its worker is killed
    memory_mb: int = Field(default=1024, ge=64)  # address-space cap of a worker while it extracts
    # the whole pool's address space: each worker gets memory_total_mb / workers (at most memory_mb), and
    # fewer workers start when each would get less than 256 MB
    memory_total_mb: int = Field(default=1024, ge=256)


class LimitsConfig(_Strict):
    """What one feed may bring into one cycle; the rest waits for the next cycle (30 s later in the
    service), held in the database, so a feed of 10,000 items neither stalls a cycle nor loses an item."""

    items_per_feed: int = Field(default=100, ge=1)  # items taken per feed per cycle (new, updated, revisited)
    pages_per_feed: int = Field(default=100, ge=0)  # page fetches per feed per cycle


class UpdatesConfig(_Strict):
    """Pages of recent articles are fetched again now and then: publishers edit them without a sign
    in the feed. An edit replaces the stored text and never alerts again."""

    within: int = 2 * 86400  # articles first seen this recently are looked at again
    every: int = 3 * 3600  # at most this often per article

    _durations = field_validator("within", "every", mode="before")(lambda v: parse_duration(v))


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DigestConfig(_Strict):
    """When digests go out: `at` is one "HH:MM" or a list of them (several a day); `days` limits them to
    some weekdays (["mon"]: a weekly digest). Times are wall-clock times in `timezone`."""

    at: StrictStr | list[StrictStr] = "08:00"
    days: list[StrictStr] | None = None  # mon..sun; None: every day
    timezone: StrictStr = "UTC"  # the zone of every time in messages, named once in each
    stories_per_topic: int = Field(default=15, ge=1)  # the rest is counted, with the command that lists them
    sources_per_story: int = Field(default=5, ge=1)

    @field_validator("at", mode="before")
    @classmethod
    def _quoted(cls, v: object) -> object:
        for one in (v if isinstance(v, list) else [v]):
            if isinstance(one, int) and not isinstance(one, bool):
                raise ValueError('digest.at must be a quoted "HH:MM" string (unquoted, YAML reads 8:00 as a number)')
        return v

    @field_validator("at")
    @classmethod
    def _hhmm(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and not v:
            raise ValueError('digest.at: give at least one "HH:MM"')
        for one in (v if isinstance(v, list) else [v]):
            if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", one):
                raise ValueError(f"digest.at must be HH:MM (24h, quoted), got {one!r}")
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        days = [d.strip().lower()[:3] for d in v]
        unknown = [d for d, short in zip(v, days, strict=True) if short not in _DAYS]
        if unknown or not days:
            raise ValueError(f"digest.days: expected weekdays such as [mon] or [mon, thu], got {v!r}")
        return days

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @property
    def times(self) -> list[dtime]:
        """Every configured time of day, sorted."""
        return sorted(dtime(int(a[:2]), int(a[3:])) for a in (self.at if isinstance(self.at, list) else [self.at]))

    @property
    def time(self) -> dtime:
        return self.times[0]

    @property
    def weekdays(self) -> frozenset[int]:
        """The weekdays (Monday 0) digests go out on."""
        return frozenset(_DAYS.index(d) for d in self.days) if self.days else frozenset(range(7))

    def describe(self) -> str:
        days = f" on {', '.join(self.days)}" if self.days else " daily"
        return f"{', '.join(t.strftime('%H:%M') for t in self.times)}{days} {self.timezone}"


class RetentionConfig(_Strict):
    """How long stored things are kept (unset: forever). Articles with hits, their stories, release reports
    (the ledger) and every hit are always kept; so are messages not yet delivered."""

    article_text: int | None = None  # text and summary of articles without hits: dropped (the row stays for dedup)
    non_hit_articles: int | None = None  # articles without hits, outside release stories: deleted
    delivered_messages: int | None = None  # messages every delivery of which was sent: deleted

    _durations = field_validator("article_text", "non_hit_articles", "delivered_messages", mode="before")(
        lambda v: None if v is None else parse_duration(v))


class ServiceConfig(_Strict):
    """The running service: how often it asks the store what is due (feeds, digests), and how old its last
    cycle may be before `status --check` calls it unhealthy (default: three ticks)."""

    tick: int = 30
    stale_after: int | None = None

    _durations = field_validator("tick", "stale_after", mode="before")(
        lambda v: None if v is None else parse_duration(v))

    @property
    def stale_limit(self) -> int:
        return self.stale_after or 3 * self.tick


class AlertsConfig(_Strict):
    """Immediate alerts. `max_age`: an item published (or, undated, first seen) longer ago than this never
    alerts, it goes to the digest — so a new feed's backlog is not a flood of alerts; "off" disables it."""

    max_age: int | None = 2 * 86400

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, v: object) -> object:
        if v is False:
            raise ValueError('write "off" in quotes (unquoted, YAML reads off as false), or a duration such as 2d')
        if isinstance(v, str) and v.strip().lower() == "off":
            return None
        return None if v is None else parse_duration(v)


class DeliveryConfig(_Strict):
    """How long messages are retried and how long one delivery round may spend on one channel."""

    give_up_after: int = 24 * 3600  # a message not delivered within this of being queued is dead
    round_budget: int = 120  # seconds one channel may take per round; a hung server holds nothing longer

    _durations = field_validator("give_up_after", "round_budget", mode="before")(lambda v: parse_duration(v))


class FileChannel(_Strict):
    type: Literal["file"]
    name: StrictStr = "file"


class EmailChannel(_Strict):
    type: Literal["email"]
    name: StrictStr = "email"
    host: StrictStr
    port: int = 587
    tls: Literal["starttls", "ssl", "none"] = "starttls"
    user: StrictStr | None = None
    password_env: StrictStr = "MONITOR_SMTP_PASSWORD"
    from_: StrictStr = Field(alias="from")
    to: list[StrictStr]
    timeout: float = 30.0
    # private ranges the SMTP host may be at (a relay on loopback or the LAN), for this channel only
    allow_networks: list[StrictStr] = Field(default_factory=list)
    password: StrictStr | None = Field(default=None, exclude=True)  # filled from the environment

    _networks = field_validator("allow_networks")(lambda v: _cidrs(v))

    @field_validator("to", mode="before")
    @classmethod
    def _list(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


class SlackChannel(_Strict):
    type: Literal["slack"]
    name: StrictStr = "slack"
    webhook_url_env: StrictStr = "MONITOR_SLACK_WEBHOOK_URL"
    webhook_url: StrictStr | None = Field(default=None, exclude=True)  # filled from the environment


class WebhookChannel(_Strict):
    """POSTs each message's outbox JSON to `url`, signed (Standard Webhooks: webhook-id, webhook-timestamp,
    webhook-signature) with the secret in $secret_env or $secret_env_FILE."""

    type: Literal["webhook"]
    name: StrictStr = "webhook"
    url: StrictStr
    secret_env: StrictStr = "MONITOR_WEBHOOK_SECRET"
    secret: bytes | None = Field(default=None, exclude=True, repr=False)  # the HMAC key, filled from the environment

    _http_url = field_validator("url")(lambda v: _http_url("webhook", v))


class AppriseChannel(_Strict):
    """Chat and push services through Apprise URLs (tgram://, discord://, workflows://, matrixs://, ntfys://,
    ...): from `urls` and from $urls_env (whitespace- or comma-separated; URLs with tokens belong there).
    `format`: markdown (escaped CommonMark, for chat apps) or text (plain, for ntfy, Gotify, JSON receivers)."""

    type: Literal["apprise"]
    name: StrictStr = "apprise"
    urls: list[StrictStr] = Field(default_factory=list)
    urls_env: StrictStr = "MONITOR_APPRISE_URLS"
    format: Literal["markdown", "text"] = "markdown"
    timeout: float = Field(default=30.0, gt=0)  # seconds one service may take to answer one message
    resolved: list[StrictStr] = Field(default_factory=list, exclude=True, repr=False)  # urls + the environment's

    @field_validator("urls", mode="before")
    @classmethod
    def _list(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v


Channel = Annotated[FileChannel | EmailChannel | SlackChannel | WebhookChannel | AppriseChannel,
                    Field(discriminator="type")]


class Config(_Strict):
    path: Path
    state_dir: Path = Path("state")
    rules_dir: Path = Path("rules")
    interval: int = DEFAULT_INTERVAL  # default poll interval for feeds that set none
    max_age: int | None = None  # articles older than this are skipped; None keeps all
    feeds: list[FeedConfig] = Field(default_factory=list)
    fetch: FetchConfig = FetchConfig()
    extract: ExtractConfig = ExtractConfig()
    updates: UpdatesConfig = UpdatesConfig()
    limits: LimitsConfig = LimitsConfig()
    digest: DigestConfig = DigestConfig()
    alerts: AlertsConfig = AlertsConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    service: ServiceConfig = ServiceConfig()
    retention: RetentionConfig = RetentionConfig()
    channels: list[Channel] = Field(default_factory=lambda: [FileChannel(type="file")])
    # filled by load_config: where each top-level key and each channel is in the file, for start-up checks
    key_lines: dict[str, int] = Field(default_factory=dict, exclude=True)

    _durations = field_validator("interval", mode="before")(lambda v: parse_duration(v))
    _age = field_validator("max_age", mode="before")(lambda v: None if v is None else parse_duration(v))

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: object) -> object:
        """A section whose keys are all commented out (`extract:` alone) means its defaults."""
        if isinstance(data, dict):
            sections = ("fetch", "extract", "updates", "digest", "alerts", "limits", "delivery", "service", "retention")
            return {k: ({} if v is None and k in sections else v)
                    for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _unique_channel_names(self) -> Config:
        names = [c.name for c in self.channels]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"channel names must be unique; give each a distinct 'name': {sorted(dupes)}")
        return self

    @property
    def db_path(self) -> Path:
        return self.state_dir / "monitor.db"

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    def feed_list(self) -> list[Feed]:
        return [self.feed(i) for i in range(len(self.feeds))]

    def feed(self, index: int) -> Feed:
        """The feed at `index` of `feeds`, its defaults filled in."""
        f = self.feeds[index]
        return Feed(url=f.url, name=self.feed_name(index), interval=self.feed_interval(index), named=bool(f.name))

    def feed_name(self, index: int) -> str:
        """The name of the feed at `index`: its own, else its host (without making its Feed)."""
        f = self.feeds[index]
        return f.name or default_name(f.url)

    def feed_interval(self, index: int) -> int:
        """The poll interval in seconds of the feed at `index`: its own, else the config's."""
        return self.feeds[index].interval or self.interval


_SCHEME_WWW = re.compile(r"^https?://(www\.)?")


def default_name(url: str) -> str:
    """The name of a feed configured without one: its host (without `www.`)."""
    return _SCHEME_WWW.sub("", url).split("/")[0]


def secret(env: dict[str, str], name: str) -> str | None:
    """A secret from NAME, or read from the file named by NAME_FILE (docker/k8s secrets)."""
    if env.get(name):
        return env[name]
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_name}: cannot read secret: {exc.strerror}") from None
    return None


def load_config(path: Path, env: dict[str, str] | None = None) -> Config:
    """Read and validate the config at `path`; secrets from `env` (default os.environ)."""
    env = dict(os.environ if env is None else env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (use --config PATH or MONITOR_CONFIG)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    parse = ParsedConfigCache(path, text)
    data, lines = parse.cached()
    if data is None:
        data, lines = _parse(path, text)
    try:
        config = Config.model_validate({**data, "path": path})
    except ValidationError as exc:
        if parse.hit:  # the lines of every key are in the file: parsed again to say where the problem is
            lines = _parse(path, text)[1]
        raise ConfigError(_describe(path, exc, lines)) from None
    base = path.parent
    key_lines = {key: yamlfile.line_of(lines, (key,)) or 1 for key in data}
    key_lines.update({f"channels.{i}": yamlfile.line_of(lines, ("channels", i)) or 1
                      for i in range(len(config.channels))})
    state_dir = (base / config.state_dir).resolve()
    if not parse.hit:
        parse.keep(state_dir, data, lines)
    return config.model_copy(update={
        "state_dir": state_dir,
        "rules_dir": (base / config.rules_dir).resolve(),
        "channels": [_with_secrets(f"{path}:{key_lines[f'channels.{i}']}", c, env)
                     for i, c in enumerate(config.channels)],
        "key_lines": key_lines,
    })


def _parse(path: Path, text: str) -> tuple[dict, yamlfile.Lines]:
    """The config's YAML as a mapping, with the line of every key path."""
    try:
        data, lines = yamlfile.load(text)
    except yamlfile.YamlLocatedError as exc:
        raise ConfigError(f"{path}:{exc.line or '?'}: {exc.message}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the config must be a mapping of keys (state_dir, feeds, ...)")
    return data, lines


def startup_problems(config: Config) -> list[str]:
    """What `run` checks before it starts, beyond the config's own validity: warnings as
    `monitor.yaml:LINE: ...` lines (errors are raised as ConfigError). The rules directory must be
    readable and the state directory writable (tried for real: permission bits say little to root)."""
    where = lambda key: f"{config.path}:{config.key_lines.get(key, 1)}"  # noqa: E731
    try:
        os.listdir(config.rules_dir)
    except OSError as exc:
        raise ConfigError(f"{where('rules_dir')}: rules_dir: {config.rules_dir} is not a readable directory: "
                          f"{exc.strerror}") from None
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        probe = config.state_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{where('state_dir')}: state_dir: {config.state_dir} is not writable: {exc.strerror} "
                          "(in the container it must belong to the monitor user, uid 10001)") from None
    warnings = []
    for i, channel in enumerate(config.channels):
        at = where(f"channels.{i}")
        if isinstance(channel, EmailChannel):
            from monitor.channels.email import smtp_host_problem  # the channel judges its host; it imports config

            if problem := smtp_host_problem(channel, config.fetch):
                raise ConfigError(f"{at}: email channel {channel.name!r}: {problem}")
        if isinstance(channel, EmailChannel) and channel.tls == "none" and not _loopback(channel.host):
            warnings.append(f"{at}: email channel {channel.name!r}: tls: none to {channel.host}: "
                            "the password and every message cross the network in clear text (use starttls or ssl)")
        if isinstance(channel, WebhookChannel):
            try:
                check_url(channel.url, config.fetch.allow_private_networks,
                          tuple(ipaddress.ip_network(n) for n in config.fetch.allow_networks))
            except BlockedAddressError as exc:
                raise ConfigError(f"{at}: webhook channel {channel.name!r}: url: {exc.message}") from None
            host = urlsplit(channel.url).hostname or ""
            if channel.url.lower().startswith("http://") and not _loopback(host):
                warnings.append(f"{at}: webhook channel {channel.name!r}: http:// to {host}: every message crosses "
                                "the network in clear text (signed, but readable; use https)")
        if isinstance(channel, AppriseChannel) and channel.format == "text":
            from monitor.channels.apprise import reads_markdown

            for label in reads_markdown(channel.resolved):
                warnings.append(f"{at}: apprise channel {channel.name!r}: format: text to {label}: that service "
                                "reads markdown in any message, so feed text could make links there; use "
                                "format: markdown (everything from feeds is escaped)")
    return warnings


def _loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _with_secrets(where: str, channel: Channel, env: dict[str, str]) -> Channel:
    """Fill a channel's secret from the environment; refuse one that needs a secret and has none."""
    if isinstance(channel, EmailChannel):
        password = secret(env, channel.password_env)
        if channel.user and not password:
            raise ConfigError(f"{where}: email channel {channel.name!r} logs in as {channel.user!r} but has no "
                              f"password: set ${channel.password_env} (or ${channel.password_env}_FILE), or remove "
                              "`user` for a server that takes mail without a login")
        return channel.model_copy(update={"password": password})
    if isinstance(channel, SlackChannel):
        url = secret(env, channel.webhook_url_env)
        if not url:
            raise ConfigError(f"{where}: slack channel {channel.name!r}: set the webhook URL in "
                              f"${channel.webhook_url_env} (or ${channel.webhook_url_env}_FILE)")
        return channel.model_copy(update={"webhook_url": url})
    if isinstance(channel, WebhookChannel):
        return channel.model_copy(update={"secret": _hmac_key(where, channel, secret(env, channel.secret_env))})
    if isinstance(channel, AppriseChannel):
        try:
            from monitor.channels.apprise import check_urls  # imports Apprise: only for configs that use it
        except ImportError as exc:
            raise ConfigError(f"{where}: apprise channel {channel.name!r} needs Apprise, which is not installed "
                              f"({exc}): pip install 'news-monitor[apprise]'") from None
        urls = [*channel.urls, *(u for u in re.split(r"[\s,]+", secret(env, channel.urls_env) or "") if u)]
        if not urls:
            raise ConfigError(f"{where}: apprise channel {channel.name!r} has no URL: list them under `urls`, or "
                              f"set ${channel.urls_env} (or ${channel.urls_env}_FILE) for URLs that carry tokens")
        problem = check_urls(urls)
        if problem:
            raise ConfigError(f"{where}: apprise channel {channel.name!r}: {problem}")
        return channel.model_copy(update={"resolved": urls})
    return channel


MIN_KEY_BYTES = 16  # an HMAC key shorter than this can be guessed; Standard Webhooks' own secrets are 24-64 bytes


def _hmac_key(where: str, channel: WebhookChannel, value: str | None) -> bytes:
    """The signing key: a Standard Webhooks secret (`whsec_` + base64) decoded as that spec says, any other
    string taken as its UTF-8 bytes."""
    hint = (f"set ${channel.secret_env} (or ${channel.secret_env}_FILE), e.g. to the output of `python3 -c "
            "'import base64, secrets; print(\"whsec_\" + base64.b64encode(secrets.token_bytes(32)).decode())'`")
    if not value:
        raise ConfigError(f"{where}: webhook channel {channel.name!r} signs every message and has no secret: {hint}")
    key = value.encode()
    if value.startswith("whsec_"):
        try:
            key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{where}: webhook channel {channel.name!r}: ${channel.secret_env} starts with whsec_ "
                              "but the rest is not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: webhook channel {channel.name!r}: the secret is {len(key)} bytes; use at least "
                          f"{MIN_KEY_BYTES} random bytes: {hint}")
    return key


def _describe(path: Path, exc: ValidationError, lines: yamlfile.Lines) -> str:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _CHANNEL_TAGS))
        line = yamlfile.line_of(lines, loc)
        where = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        problems.append(f"{path}:{line or 1}: {where}: {msg}")
    return "\n".join(problems)


_CHANNEL_TAGS = {"file", "email", "slack", "webhook", "apprise"}
