"""Progress on a terminal: one `\\r`-redrawn line per stage ("feeds polled: 120 of 300") on stderr, or for a
step without counts, its name while it runs and how long it took when it ends ("dropping old articles … 4.2 s").

The pipeline calls a plain `(stage, done, total)` callback and knows nothing of terminals; this module
draws it, and draws nothing at all when stderr is not a terminal (a pipe, a log file, a container), so
logs stay exactly as they were. A log record written while a line is open first clears that line.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

import click

REDRAW_EVERY = 0.1  # seconds: a 30,000-feed cycle calls back 30,000 times; the terminal needs ten a second


class StageProgress:
    """The `(stage, done, total)` callback for the pipeline and `rules backtest`; use as a context manager."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = _is_terminal(self.stream)
        self.stage: str | None = None
        self.line = ""
        self.drawn_at = 0.0
        self.step_started: float | None = None  # the open line is a step (no counts) begun then
        self._filter = _ClearLine(self)

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if stage != self.stage or self.step_started is not None:  # the previous line stays with its last counts
            self.finish()
            self.stage = stage
        elif done < total and now - self.drawn_at < REDRAW_EVERY:
            return
        self.drawn_at = now
        self.line = f"{stage}: {done:,} of {total:,}"
        click.echo(f"\r\x1b[K{self.line}", file=self.stream, nl=False)

    def step(self, name: str) -> None:
        """A step whose size is not known: "name …" while it runs, "name … 4.2 s" once the next begins."""
        if not self.enabled:
            return
        self.finish()
        self.stage, self.line, self.step_started = name, f"{name} …", time.monotonic()
        click.echo(f"\r\x1b[K{self.line}", file=self.stream, nl=False)

    def clear(self) -> None:
        """Take the open line off the screen (a log line follows); the next call draws it again."""
        if self.line:
            click.echo("\r\x1b[K", file=self.stream, nl=False)
            self.drawn_at = 0.0

    def finish(self) -> None:
        if self.line:
            if self.step_started is not None:
                self.line += f" {time.monotonic() - self.step_started:.1f} s"
            click.echo(f"\r\x1b[K{self.line}", file=self.stream)
        self.line, self.stage, self.step_started = "", None, None

    def __enter__(self) -> StageProgress:
        if self.enabled:
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._filter)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.finish()
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self._filter)


class _ClearLine(logging.Filter):
    """Clears the open progress line before a log record is written below it; filters nothing out."""

    def __init__(self, progress: StageProgress):
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear()
        return True


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: no progress
        return False
