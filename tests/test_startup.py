"""Start-up checks: what can be known before the first send is checked then, with `monitor.yaml:LINE:` —
an email login without its password is refused, `tls: none` to a remote host is a warning, an unreadable
rules directory and an unwritable state directory stop `run` before anything is fetched."""

from __future__ import annotations

import pytest

from monitor.config import load_config, startup_problems
from tests.helpers import cli

EMAIL = {"type": "email", "host": "127.0.0.1", "port": 2525, "tls": "none", "user": "monitor@example.org",
         "from": "monitor@example.org", "to": ["analyst@example.org"]}


def line_of(config, text: str) -> int:
    return next(i for i, line in enumerate(config.read_text().splitlines(), 1) if text in line)


def test_an_email_login_without_a_password_is_refused_at_start(write_config, monkeypatch):
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD_FILE", raising=False)
    config = write_config([], channels=[{"type": "file"}, EMAIL])
    result = cli(config, "run", "--once")
    assert result.returncode == 2
    line = line_of(config, "type: email")
    assert result.stderr.strip() == (
        f"news-monitor: {config}:{line}: email channel 'email' logs in as 'monitor@example.org' but has no "
        "password: set $MONITOR_SMTP_PASSWORD (or $MONITOR_SMTP_PASSWORD_FILE), or remove `user` for a server "
        "that takes mail without a login")
    assert not (config.parent / "state" / "monitor.db").exists()  # refused before anything was stored
    loaded = load_config(config, env={"MONITOR_SMTP_PASSWORD": "s3cret"})
    assert loaded.channels[1].password == "s3cret" and startup_problems(loaded) == []  # loopback: no warning
    no_login = write_config([], channels=[{k: v for k, v in EMAIL.items() if k != "user"}])
    assert load_config(no_login, env={}).channels[0].password is None


def test_tls_none_to_a_remote_host_is_a_warning_with_its_line(write_config):
    config = write_config([], channels=[{**EMAIL, "host": "smtp.example.org"}])
    warnings = startup_problems(load_config(config, env={"MONITOR_SMTP_PASSWORD": "x"}))
    assert warnings == [f"{config}:{line_of(config, 'type: email')}: email channel 'email': tls: none to "
                        "smtp.example.org: the password and every message cross the network in clear text "
                        "(use starttls or ssl)"]
    for host in ("localhost", "::1", "127.0.0.2"):
        local = write_config([], channels=[{**EMAIL, "host": host}])
        assert startup_problems(load_config(local, env={"MONITOR_SMTP_PASSWORD": "x"})) == []


@pytest.mark.parametrize("key", ["rules_dir", "state_dir"])
def test_an_unreadable_rules_dir_or_unwritable_state_dir_stops_run(write_config, tmp_path, key):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    # a path through a regular file fails for root too (permission bits would not)
    extra = {"rules_dir": str(blocker)} if key == "rules_dir" else {"state_dir": "a-file/state"}
    config = write_config([], **extra) if key == "state_dir" else write_config([], rules_dir=blocker)
    result = cli(config, "run", "--once")
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert message.startswith(f"news-monitor: {config}:{line_of(config, key + ':')}: {key}: ")
    assert ("is not a readable directory" if key == "rules_dir" else "is not writable") in message
