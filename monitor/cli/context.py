"""What every command shares: the lazily loaded config, the pipeline factory, exit codes, and the
guard that turns invalid config or rules into a clear message and exit status 2.

The config (pydantic) and the pipeline are imported when a command first asks for them: `--help` and a
command's usage errors cost only click's start-up."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.errors import AlreadyRunning, ConfigError, MonitorError, RuleError

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.pipeline import Pipeline

EXIT_INVALID = 2  # the config or the rules are invalid
EXIT_BUSY = 3  # another process holds the state directory


class Context:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from monitor.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    def pipeline(self, rules) -> Pipeline:
        """The pipeline; its extraction pool starts worker processes only when pages come, and the
        caller closes it (`with pipeline.extractor:`)."""
        from monitor.pipeline import build_pipeline

        return build_pipeline(self.config, rules)

    def sender(self, rules) -> Pipeline:
        """A pipeline that builds and delivers messages but polls no feeds (`digest`, `channels test`): its
        fetcher, and aiohttp, only when a channel posts over HTTP."""
        from monitor.pipeline import build_pipeline

        return build_pipeline(self.config, rules, polls=False)

    def reader(self, rules) -> Pipeline:
        """A pipeline that only reads the store and renders (`digest --dry-run`, `--preview`, `prune`): no
        fetcher and no channels, so neither they nor their libraries are loaded."""
        from monitor.pipeline import Pipeline

        return Pipeline(self.config, rules, fetcher=None, senders=())


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
