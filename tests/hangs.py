"""A hang detector for the tests that guard against quadratic or exponential blow-ups (ReDoS, rescans).

Speed targets live in bench/; these tests only prove a hostile input cannot stall a cycle. The bound is
so generous that no load on a shared 2-core machine reaches it (the linear code takes milliseconds), while
the quadratic version on the same input takes far longer: each test states that arithmetic where it uses
the bound. An interval timer interrupts a runaway call at the bound, so a regression fails, not hangs."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

HANG_BOUND = 60.0  # seconds; the linear code takes milliseconds, the quadratic one many minutes


class Hung(AssertionError):
    """The call did not return within the hang bound: it is quadratic (or worse) on this input."""


@contextmanager
def no_hang(what: str, seconds: float = HANG_BOUND) -> Iterator[None]:
    def interrupt(_signum, _frame):
        raise Hung(f"{what} still running after {seconds:g} s: the work grows faster than the input")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
