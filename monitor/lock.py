"""The single-instance lock on state_dir: one process (the service, `run --once`, a digest sent by hand) at
a time, and who holds it, for `status`. Apart from the service so a read command gets it without APScheduler."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.errors import AlreadyRunning


@contextmanager
def instance_lock(state_dir: Path, why: str = "") -> Iterator[None]:
    """One process per state directory: two would race to send the same messages. `why` tells the
    user of a refused command what to do instead."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "monitor.lock"
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip()
            raise AlreadyRunning(f"another news-monitor is running on {state_dir} (lock {path}"
                                 + (f", pid {pid}" if pid else "") + ")" + (f"; {why}" if why else "")) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def lock_holder(state_dir: Path) -> int | None:
    """The pid of the process holding the state directory's lock (a service, `run --once`, a digest sent
    by hand), or None when nobody holds it. Takes the lock for an instant when it is free."""
    path = state_dir / "monitor.lock"
    if not path.exists():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            first = handle.read().split()
            return int(first[0]) if first and first[0].isdigit() else 0
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
