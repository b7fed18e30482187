"""One timer for a batch's deadlines (fetch._Deadlines) ends the same requests as a timer per request
(`asyncio.timeout(deadline)`, the replaced code): each request past its own deadline with a TimeoutError where
it awaits, never before that deadline; the others untouched, whenever they started; a paused deadline (a redirect
waiting for a slot) resumes with what it had left; and no timer is left on a loop that runs the next batch.

The requests run on an event loop with a virtual clock (its selector moves the clock to the next timer instead of
waiting), so each request's end is an exact moment and both ways can be compared moment for moment."""

from __future__ import annotations

import asyncio
import selectors

from monitor.fetch import _Deadlines

DEADLINE = 0.4
# (start at, work before a pause, pause, work after it)
REQUESTS = [
    (0.0, 0.02, 0, 0), (0.0, 1.2, 0, 0), (0.0, 0.05, 0, 0), (0.15, 1.2, 0, 0), (0.3, 0.02, 0, 0),
    (0.3, 1.2, 0, 0), (0.5, 0.05, 0, 0), (0.6, 1.2, 0, 0), (0.2, 1.2, 0, 0), (0.205, 1.2, 0, 0),
    (0.0, 0.02, 1.0, 0.05),  # paused far longer than the deadline, little of it spent: not cut
    (0.1, 0.02, 0.6, 1.2),  # past its deadline in the work after the pause
    (0.0, 0.02, 0.3, 0),  # paused, then ends without more work
    (0.0, 0.3, 0.5, 0.3),  # past its deadline in the work after a pause that began late
]


class _VirtualClock(selectors.SelectSelector):
    """A selector that never waits: it moves its loop's clock on to the next timer instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def select(self, timeout: float | None = None):
        if timeout:
            self.now += timeout
        return super().select(0)


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.clock = _VirtualClock()
        super().__init__(self.clock)

    def time(self) -> float:
        return self.clock.now


def _run(main):
    loop = _VirtualLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


async def _replaced(start: float, before: float, pause: float, after: float) -> tuple[str, float]:
    """The specification: a timer per request, its deadline paused by rescheduling (the replaced _Deadline)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.sleep(start)
    try:
        async with asyncio.timeout(DEADLINE) as timeout:
            await asyncio.sleep(before)
            if pause:
                left = timeout.when() - loop.time()
                timeout.reschedule(None)
                await asyncio.sleep(pause)
                timeout.reschedule(loop.time() + left)
                await asyncio.sleep(after)
        return "done", round(loop.time() - began, 9)
    except TimeoutError:
        return "past the deadline", round(loop.time() - began, 9)


async def _swept(deadlines: _Deadlines, start: float, before: float, pause: float, after: float) -> tuple[str, float]:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.sleep(start)
    try:
        async with (timeout := asyncio.timeout(None)):
            clock = deadlines.start(timeout)
            try:
                await asyncio.sleep(before)
                if pause:
                    clock.pause()
                    await asyncio.sleep(pause)
                    clock.resume()
                    await asyncio.sleep(after)
            finally:
                deadlines.end(clock)
        return "done", round(loop.time() - began, 9)
    except TimeoutError:
        return "past the deadline", round(loop.time() - began, 9)


def test_one_timer_for_a_batch_ends_the_requests_a_timer_each_ended_at_the_same_moments():
    async def both() -> tuple[list, list, int]:
        deadlines = _Deadlines(DEADLINE)
        swept = await asyncio.gather(*(_swept(deadlines, *r) for r in REQUESTS))
        deadlines.close()
        timers_left = len([h for h in asyncio.get_running_loop()._scheduled if not h.cancelled()])
        replaced = await asyncio.gather(*(_replaced(*r) for r in REQUESTS))
        return swept, replaced, timers_left

    swept, replaced, timers_left = _run(both)
    assert swept == replaced  # the same requests cut, each at the same moment
    assert [result for result, _ in swept].count("past the deadline") == 8
    for (start, _, pause, _), (result, at) in zip(REQUESTS, swept, strict=True):
        if result != "done":  # cut when its deadline came (plus the time it spent paused), not before or after
            assert at == round(start + DEADLINE + pause, 9)
    assert timers_left == 0  # the batch's timer is taken off the loop, which may be kept for the next batch


def test_a_request_that_ends_before_its_deadline_is_not_cut_by_a_later_sweep():
    """A request that ended is no longer watched: the sweep at its deadline leaves the worker alone (it may be
    running its next request, with a deadline of its own)."""
    async def one_worker() -> list[tuple[str, float]]:
        deadlines = _Deadlines(0.2)
        done = [await _swept(deadlines, 0, 0.09, 0, 0) for _ in range(4)]  # each quick, together past a deadline
        done.append(await _swept(deadlines, 0, 0.5, 0, 0))  # then a slow one: cut at its own deadline
        deadlines.close()
        return done

    assert _run(one_worker) == [("done", 0.09)] * 4 + [("past the deadline", 0.2)]
