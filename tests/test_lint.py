"""ruff, with the rule set chosen in pyproject.toml, over the package, tests and benchmarks."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "monitor", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
