"""The CLI contract: --help everywhere, invalid config and rule files give file:line messages and a
non-zero exit, `python -m monitor` works, and `rules check` runs the shipped rules' examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from monitor.cli import main
from tests.helpers import ROOT


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,)
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


@pytest.mark.parametrize("path", [()] + list(_commands(main)), ids=lambda p: " ".join(p) or "main")
def test_every_command_has_help(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "run" in result.stdout and "hits" in result.stdout


@pytest.mark.parametrize("text, expected", [
    ("feeds:\n  - url: ftp://example.org/x\n", "monitor.yaml:2: feeds.0.url"),
    ("state_dir: s\nbogus: 1\n", "monitor.yaml:2: bogus: unknown key"),
    ("digest:\n  at: 8:00\n", "monitor.yaml:2: digest.at"),
    ("digest:\n  timezone: Mars/Olympus\n", "unknown time zone"),
    ("feeds: []\nfeeds: []\n", "monitor.yaml:2: duplicate key 'feeds'"),
    ("fetch: &a {}\ndigest: *a\n", "anchors and aliases are not allowed"),
    ("feeds: [\n", "monitor.yaml:2: invalid YAML"),
    ("channels:\n  - type: pigeon\n", "monitor.yaml:2: channels.0"),
])
def test_invalid_config_names_file_line_and_problem(tmp_path, text, expected):
    config = tmp_path / "monitor.yaml"
    config.write_text(text)
    result = CliRunner().invoke(main, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 2
    assert expected in result.output


def test_missing_config_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "nope.yaml"), "run", "--once"])
    assert result.exit_code == 2 and "config file not found" in result.output


def test_config_from_env_var(tmp_path, write_config):
    config = write_config([])
    result = CliRunner().invoke(main, ["feeds"], env={"MONITOR_CONFIG": str(config)})
    assert result.exit_code == 0


@pytest.mark.parametrize("rule_text, expected", [
    ("name: x\nquery: 'zapad AND (exercise'\n", "x.yaml:2:"),
    ("name: x\nquery: zapad\nalert: no\n", "x.yaml:3: alert must be a string, got False"),
    ("name: x\nquery: zapad\nquery: minsk\n", "x.yaml:3:1: duplicate key 'query'"),
    ("name: x\nany_of: [zapad, on]\n", "x.yaml:2: any_of term must be a string, got True"),
    ("name: x\nquery: zapad\nalert: sometimes\n", "alert must be one of digest, immediate"),
    ("name: x\nqeury: zapad\n", "x.yaml:2: unknown key 'qeury'"),
    ("name: x\nquery: '@nobody'\n", "x.yaml:2:"),
])
def test_invalid_rule_file_is_reported_with_its_place(tmp_path, write_config, rule_text, expected):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "x.yaml").write_text(rule_text)
    config = write_config([], rules_dir=rules)
    result = CliRunner().invoke(main, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 2
    assert expected in result.output
    assert not (tmp_path / "state" / "monitor.db").exists()  # nothing ran


def test_rules_check_runs_the_shipped_examples(write_config):
    config = write_config([])
    result = CliRunner().invoke(main, ["--config", str(config), "rules", "check"])
    assert result.exit_code == 0, result.output
    assert "4 rules" in result.output and "0 failing" in result.output


def test_rules_check_fails_on_a_wrong_example(tmp_path, write_config):
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "x.yaml").write_text("name: x\nquery: zapad\nexamples:\n  match: ['Minsk only']\n")
    result = CliRunner().invoke(main, ["--config", str(write_config([], rules_dir=rules)), "rules", "check"])
    assert result.exit_code == 2 and "should match: 'Minsk only'" in result.output


def test_shipped_config_is_valid_and_safe():
    from monitor.config import FileChannel, load_config
    config = load_config(ROOT / "monitor.yaml")
    assert len(config.feeds) >= 5
    assert all(f.url.startswith("https://") for f in config.feeds)
    assert [type(c) for c in config.channels] == [FileChannel]  # runs with no set-up
    assert config.fetch.allow_private_networks is False
    assert config.state_dir == (ROOT / "state").resolve() and config.rules_dir == (ROOT / "rules").resolve()


def test_busy_state_dir_is_refused(write_config):
    from monitor.lock import instance_lock
    config = write_config([])
    with instance_lock(Path(config.parent / "state")):
        result = CliRunner().invoke(main, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 3 and "another news-monitor is running" in result.output
