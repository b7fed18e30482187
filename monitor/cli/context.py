"""What every command shares: the lazily loaded config, the pipeline factory, exit codes, and the
guard that turns invalid config or rules into a clear message and exit status 2."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from monitor.config import Config, load_config
from monitor.errors import AlreadyRunning, ConfigError, MonitorError, RuleError
from monitor.pipeline import Pipeline, build_pipeline

EXIT_INVALID = 2  # the config or the rules are invalid
EXIT_BUSY = 3  # another process holds the state directory


class Context:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def pipeline(self, rules) -> Pipeline:
        """The pipeline; its extraction pool starts worker processes only when pages come, and the
        caller closes it (`with pipeline.extractor:`)."""
        return build_pipeline(self.config, rules)


def fail(exc: MonitorError | str, code: int) -> None:
    click.echo(f"news-monitor: {exc}", err=True)
    sys.exit(code)


def guarded(fn):
    """Invalid config or rules -> clear message, exit 2; a busy state dir -> exit 3."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, RuleError) as exc:
            fail(exc, EXIT_INVALID)
        except AlreadyRunning as exc:
            fail(exc, EXIT_BUSY)
    return wrapper
