"""load_config: defaults, relative paths, durations and sizes, file:line errors, and secrets from the env."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import (
    DEFAULT_INTERVAL,
    EmailChannel,
    FileChannel,
    SlackChannel,
    load_config,
    parse_duration,
    parse_size,
    secret,
)
from monitor.errors import ConfigError
from tests.helpers import ROOT

HAPPY = """\
state_dir: var/state
rules_dir: ../shared-rules
interval: 15m
max_age: 14d
feeds:
  - url: https://www.belsat.example/en/feed/
  - url: https://news.example.org/rss?q=Belarus
    name: Belarus search
    interval: 2h
fetch:
  max_page_bytes: 5MB
  max_feed_bytes: 512kB
  deadline: 30
digest:
  at: "07:30"
  timezone: Europe/Vilnius
"""


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_happy_path(tmp_path):
    path = write(tmp_path / "conf", HAPPY)
    config = load_config(path, env={})

    assert config.path == path
    assert config.state_dir == (tmp_path / "conf" / "var" / "state").resolve()
    assert config.rules_dir == (tmp_path / "shared-rules").resolve()
    assert config.db_path == config.state_dir / "monitor.db"
    assert config.outbox_dir == config.state_dir / "outbox"
    assert config.interval == 900
    assert config.max_age == 14 * 86400
    assert config.fetch.max_page_bytes == 5 * 1024 * 1024
    assert config.fetch.max_feed_bytes == 512 * 1024
    assert config.fetch.deadline == 30
    assert config.digest.at == "07:30"
    assert (config.digest.time.hour, config.digest.time.minute) == (7, 30)
    assert config.digest.timezone == "Europe/Vilnius"
    feeds = config.feed_list()
    assert [(f.url, f.name, f.interval) for f in feeds] == [
        ("https://www.belsat.example/en/feed/", "belsat.example", 900),
        ("https://news.example.org/rss?q=Belarus", "Belarus search", 7200),
    ]


def test_defaults_for_an_empty_file(tmp_path):
    path = write(tmp_path, "")
    config = load_config(path, env={})
    assert config.state_dir == (tmp_path / "state").resolve()
    assert config.rules_dir == (tmp_path / "rules").resolve()
    assert config.interval == DEFAULT_INTERVAL == 900
    assert config.max_age is None
    assert config.feeds == []
    assert config.fetch.allow_private_networks is False
    assert config.fetch.max_feed_bytes == 10 * 1024 * 1024
    assert config.fetch.max_page_bytes == 5 * 1024 * 1024
    assert "news-monitor" in config.fetch.user_agent
    assert (config.digest.at, config.digest.timezone) == ("08:00", "UTC")
    assert config.channels == [FileChannel(type="file")]


def test_absolute_paths_are_kept(tmp_path):
    state = tmp_path / "elsewhere" / "state"
    config = load_config(write(tmp_path / "conf", f"state_dir: {state}\n"), env={})
    assert config.state_dir == state


def test_relative_paths_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path / "conf", "state_dir: st\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("conf/monitor.yaml"), env={}).state_dir == (tmp_path / "conf" / "st").resolve()


def test_the_shipped_monitor_yaml_loads():
    config = load_config(ROOT / "monitor.yaml", env={})
    assert config.feeds and all(f.url.startswith("https://") for f in config.feeds)
    assert config.fetch.allow_private_networks is False
    assert config.state_dir == (ROOT / "state").resolve()


def test_conftest_written_config_loads(write_config, tmp_path):
    path = write_config([{"url": "http://127.0.0.1:9/feeds/northwire.xml", "name": "Northwire"}])
    config = load_config(path, env={})
    assert config.fetch.allow_private_networks is True
    assert config.feed_list()[0].name == "Northwire"
    assert config.state_dir == (tmp_path / "state").resolve()


@pytest.mark.parametrize("value, seconds", [
    ("15m", 900), ("2h", 7200), ("30s", 30), ("7d", 604800), ("1w", 604800), ("45", 45), (45, 45),
    (" 10 M ", 600), (90.7, 90),
])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["0m", 0, -5, "1.5h", "soon", "15 minutes", True, "", "-3m"])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("value, size", [
    ("5MB", 5 * 1024**2), ("512kB", 512 * 1024), ("1GB", 1024**3), ("5 mb", 5 * 1024**2), ("100b", 100),
    ("1024", 1024), (2048, 2048),
])
def test_parse_size(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["lots", "1.5MB", "5TB", True, "MB"])
def test_parse_size_rejects(value):
    with pytest.raises(ValueError):
        parse_size(value)


@pytest.mark.parametrize("value, size", [("5M", 5 * 1024**2), ("10k", 10 * 1024), ("2G", 2 * 1024**3)])
def test_unit_without_b_is_a_size(tmp_path, value, size):
    config = load_config(write(tmp_path, f"fetch:\n  max_page_bytes: {value}\n"), env={})
    assert config.fetch.max_page_bytes == size


@pytest.mark.parametrize("key", ["deadline", "connect_timeout", "read_timeout", "max_page_bytes",
                                 "max_feed_bytes"])
def test_non_positive_fetch_limits_are_config_errors(tmp_path, key):
    with pytest.raises(ConfigError, match=f"fetch.{key}"):
        load_config(write(tmp_path, f"fetch:\n  {key}: -1\n"), env={})


# -- errors name the file and the line -------------------------------------------------------------


@pytest.mark.parametrize("text, line, fragment", [
    ("feeds: []\ncolour: blue\n", 2, "colour: unknown key"),
    ("feeds:\n  - url: https://a.example/f\n    colour: red\n", 3, "feeds.0.colour: unknown key"),
    ("feeds:\n  - url: https://a.example/f\n  - url: ftp://b.example/f\n", 3, "feed url must be http(s)"),
    ("feeds:\n  - url: not a url\n", 2, "feeds.0.url"),
    ("feeds:\n  - name: no url\n", 2, "feeds.0.url"),
    ("feeds: []\ndigest:\n  at: 8:00\n", 3, 'quoted "HH:MM"'),
    ("digest:\n  at: '8:00'\n", 2, "HH:MM"),
    ("digest:\n  at: '24:00'\n", 2, "HH:MM"),
    ("digest:\n  timezone: Mars/Olympus\n", 2, "unknown time zone 'Mars/Olympus'"),
    ("interval: 15m\nfeeds: []\ninterval: 20m\n", 3, "duplicate key 'interval'"),
    ("base: &b\n  url: https://x.example/f\nfeeds:\n  - *b\n", 1, "anchors"),
    ("feeds:\n  - url: https://x.example/f\n    interval: soon\n", 3, "feeds.0.interval"),
    ("interval: soon\n", 1, "expected a duration"),
    ("fetch:\n  max_page_bytes: lots\n", 2, "fetch.max_page_bytes"),
    ("fetch:\n  allow_private_networks: yes please\n", 2, "fetch.allow_private_networks"),
    ("feeds: [\n", 2, "invalid YAML"),
    ("- a\n- b\n", 1, "must be a mapping"),
    ("channels:\n  - type: pigeon\n", 2, "channels.0"),
    ("channels:\n  - type: file\n  - type: file\n", 1, "channel names must be unique"),
    ("channels:\n  - type: email\n    host: smtp.example\n    from: a@example\n", 2, "channels.0.to"),
])
def test_errors_name_file_and_line(tmp_path, text, line, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message


def test_several_problems_are_all_reported(tmp_path):
    path = write(tmp_path, "colour: blue\ninterval: soon\n")
    message = str(pytest.raises(ConfigError, load_config, path, env={}).value)
    assert f"{path}:1: colour: unknown key" in message
    assert f"{path}:2: interval" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


# -- secrets ------------------------------------------------------------------------------------

CHANNELS = """\
channels:
  - type: slack
  - type: email
    host: smtp.example.org
    from: monitor@example.org
    to: analyst@example.org
"""


def test_secrets_from_the_environment(tmp_path):
    env = {"MONITOR_SLACK_WEBHOOK_URL": "https://hooks.slack.example/T/B/x", "MONITOR_SMTP_PASSWORD": "pw"}
    slack, email = load_config(write(tmp_path, CHANNELS), env=env).channels
    assert isinstance(slack, SlackChannel) and slack.webhook_url == "https://hooks.slack.example/T/B/x"
    assert isinstance(email, EmailChannel) and email.password == "pw"
    assert email.to == ["analyst@example.org"]
    assert email.from_ == "monitor@example.org"


def test_secrets_from_files(tmp_path):
    (tmp_path / "hook").write_text("https://hooks.slack.example/from-file\n", encoding="utf-8")
    (tmp_path / "pw").write_text("  s3cret \n", encoding="utf-8")
    env = {"MONITOR_SLACK_WEBHOOK_URL_FILE": str(tmp_path / "hook"),
           "MONITOR_SMTP_PASSWORD_FILE": str(tmp_path / "pw")}
    slack, email = load_config(write(tmp_path, CHANNELS), env=env).channels
    assert slack.webhook_url == "https://hooks.slack.example/from-file"
    assert email.password == "s3cret"


def test_custom_secret_variable_names(tmp_path):
    text = "channels:\n  - type: slack\n    name: ops\n    webhook_url_env: OPS_HOOK\n"
    (slack,) = load_config(write(tmp_path, text), env={"OPS_HOOK": "https://hooks.slack.example/ops"}).channels
    assert slack.name == "ops" and slack.webhook_url == "https://hooks.slack.example/ops"


def test_secrets_are_not_serialised(tmp_path):
    env = {"MONITOR_SLACK_WEBHOOK_URL": "https://hooks.slack.example/secret", "MONITOR_SMTP_PASSWORD": "pw"}
    config = load_config(write(tmp_path, CHANNELS), env=env)
    dumped = str(config.model_dump())
    assert "hooks.slack.example/secret" not in dumped and "'pw'" not in dumped


def test_env_beats_file(tmp_path):
    (tmp_path / "pw").write_text("from-file", encoding="utf-8")
    assert secret({"PW": "from-env", "PW_FILE": str(tmp_path / "pw")}, "PW") == "from-env"
    assert secret({"PW_FILE": str(tmp_path / "pw")}, "PW") == "from-file"
    assert secret({}, "PW") is None


def test_unreadable_secret_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, CHANNELS), env={"MONITOR_SLACK_WEBHOOK_URL_FILE": str(tmp_path / "none")})
    assert "MONITOR_SLACK_WEBHOOK_URL_FILE" in str(info.value)
    assert str(tmp_path / "none") in str(info.value)


def test_email_without_password_is_allowed(tmp_path):
    text = "channels:\n  - type: email\n    host: smtp.example.org\n    from: a@example.org\n    to: [b@example.org]\n"
    (email,) = load_config(write(tmp_path, text), env={}).channels
    assert email.password is None


@pytest.mark.parametrize("env", [{}, {"MONITOR_SLACK_WEBHOOK_URL": ""}])
def test_slack_without_webhook_is_a_config_error(tmp_path, env):
    path = write(tmp_path, "channels:\n  - type: slack\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert str(path) in str(info.value)
    assert "MONITOR_SLACK_WEBHOOK_URL" in str(info.value)


def test_environment_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_SLACK_WEBHOOK_URL", "https://hooks.slack.example/os")
    (slack,) = load_config(write(tmp_path, "channels:\n  - type: slack\n")).channels
    assert slack.webhook_url == "https://hooks.slack.example/os"
