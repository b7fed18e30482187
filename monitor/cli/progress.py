"""Progress on a terminal: one `\\r`-redrawn line per stage ("feeds polled: 120 of 300") on stderr, or for a
step without counts, its name while it runs and how long it took when it ends ("dropping old articles … 4.2 s").

The pipeline calls a plain `(stage, done, total)` callback and knows nothing of terminals; this module
draws it, and draws nothing at all when stderr is not a terminal (a pipe, a log file, a container), so
logs stay exactly as they were. A log record written while a line is open first clears that line, which comes
back below it. Lines are redrawn at most ten times a second; a count that arrives too soon after the last drawing
is drawn by a timer, so a burst of fast feeds followed by one slow one shows the burst's count while it waits.
"""

from __future__ import annotations

import logging
import sys
import threading
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
        self.line = ""  # the latest state, drawn now or by the timer within REDRAW_EVERY
        self.drawn_at = 0.0
        self.step_started: float | None = None  # the open line is a step (no counts) begun then
        self._filter = _ClearLine(self)
        self._lock = threading.RLock()  # the timer's thread draws too
        self._timer: threading.Timer | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            if stage != self.stage or self.step_started is not None:  # the previous line stays with its counts
                self.finish()
                self.stage = stage
            self.line = f"{stage}: {done:,} of {total:,}"
            now = time.monotonic()
            if done >= total or now - self.drawn_at >= REDRAW_EVERY:
                self._draw()
            else:  # too soon after the last drawing: drawn by the timer unless a later call comes first
                self._draw_later(REDRAW_EVERY - (now - self.drawn_at))

    def step(self, name: str) -> None:
        """A step whose size is not known: "name …" while it runs, "name … 4.2 s" once the next begins."""
        if not self.enabled:
            return
        with self._lock:
            self.finish()
            self.stage, self.line, self.step_started = name, f"{name} …", time.monotonic()
            self._draw()

    def clear(self) -> None:
        """Take the open line off the screen (a log line follows); the timer draws it again below."""
        with self._lock:
            if self.line:
                click.echo("\r\x1b[K", file=self.stream, nl=False)
                self.drawn_at = 0.0
                self._draw_later(REDRAW_EVERY)

    def finish(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self.line:
                if self.step_started is not None:
                    self.line += f" {time.monotonic() - self.step_started:.1f} s"
                click.echo(f"\r\x1b[K{self.line}", file=self.stream)
            self.line, self.stage, self.step_started = "", None, None

    def _draw(self) -> None:
        self.drawn_at = time.monotonic()
        click.echo(f"\r\x1b[K{self.line}", file=self.stream, nl=False)

    def _draw_later(self, delay: float) -> None:
        """The latest line drawn after `delay` even if no call comes (a burst, then one slow feed)."""
        if self._timer is None:
            self._timer = threading.Timer(max(delay, 0.0), self._timer_fired)
            self._timer.daemon = True
            self._timer.start()

    def _timer_fired(self) -> None:
        with self._lock:
            self._timer = None
            if self.line:
                self._draw()

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
