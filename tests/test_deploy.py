"""What a new user runs: README's two commands, .ci/run, and a docker-compose.yml whose command,
volumes and paths match the repository (Docker itself cannot run here)."""

from __future__ import annotations

import re
import shlex

import yaml

from tests.helpers import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = text[: text.index("## ")]  # the two commands sit above the first section
    return [block.strip() for block in re.findall(r"```\n(.*?)```", first_screen, re.DOTALL)]


def test_readme_first_screen_has_run_and_test_commands():
    run, test = readme_commands()
    assert "news-monitor run" in run and "python3.11 -m venv" in run
    assert "pytest" in test and "python3.11 -m venv" in test


def test_ci_runs_exactly_the_readme_test_command():
    _, test = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()
    assert "set -euo pipefail" in ci


def test_compose_runs_the_service_with_state_and_rules_mounted():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service = compose["services"]["monitor"]
    command = service["command"] if isinstance(service["command"], list) else shlex.split(service["command"])
    assert command[0] == "news-monitor" and command[-1] == "run"
    config_in_container = command[command.index("--config") + 1]
    mounts = {}
    for volume in service["volumes"]:
        host, container, *_ = volume.split(":")
        mounts[container] = host
        assert (ROOT / host).exists(), f"{host} is mounted but does not exist"
    assert mounts[config_in_container] == "./monitor.yaml"
    # rules/ as a directory (edits seen live) and state/ as a volume, where the config says they are
    config = yaml.safe_load((ROOT / "monitor.yaml").read_text(encoding="utf-8"))
    container_dir = config_in_container.rsplit("/", 1)[0]
    assert mounts[f"{container_dir}/{config['rules_dir']}"] == "./rules"
    assert mounts[f"{container_dir}/{config['state_dir']}"] == "./state"
    assert (ROOT / "rules").is_dir() and (ROOT / "state").is_dir()


def test_dockerfile_installs_the_project_and_runs_the_same_command():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install" in dockerfile and 'CMD ["news-monitor", "run"]' in dockerfile
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.MULTILINE):
        assert (ROOT / copied).exists(), copied


def test_shipped_rule_files_are_the_four_topics():
    names = sorted(p.stem for p in (ROOT / "rules").glob("*.yaml") if not p.name.startswith("_"))
    assert names == ["belarus-prisoners", "coale", "sanctions", "zapad"]


def test_the_config_example_in_readme_is_valid(tmp_path):
    from monitor.config import load_config
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    example = text.split("## Configuration", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "monitor.yaml"
    path.write_text(example, encoding="utf-8")
    config = load_config(path, env={"MONITOR_SLACK_WEBHOOK_URL": "https://hooks.example/x",
                                    "MONITOR_SMTP_PASSWORD": "x",  # the example's email channel logs in
                                    "MONITOR_WEBHOOK_SECRET": "a webhook signing secret"})
    assert [c.type for c in config.channels] == ["file", "email", "slack", "webhook", "apprise"]
    assert config.digest.timezone == "Europe/Vilnius"
