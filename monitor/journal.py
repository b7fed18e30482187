"""The acceptance journal: what a server took (a message, an email's recipients, a Slack post) written to a small
append-only file beside the database in one write the moment the server answers, then recorded in the database,
then the file emptied. A kill -9 while that database commit waits — a poll cycle holds SQLite's write lock for a
batch of articles, 0.1-0.3 s at a time and back to back, a digest longer — leaves the acceptance in the file, and
the next delivery round records it from there instead of sending the message again.

No fsync: a killed process's writes stay in the page cache and reach the file; only a power cut may lose the last
ones (as SQLite's own log with synchronous=NORMAL). One process delivers at a time (the instance lock), so one
writer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from datetime import datetime
from pathlib import Path

from monitor.store import Store

log = logging.getLogger("monitor.deliver")

PREFIX = "delivery-"  # one journal per channel (each has its own thread and writer): delivery-<channel>.journal
# the Store calls that record what a server took, and their arguments that are moments
CALLS = {"record_sent": ("now",), "record_failure": ("next_attempt",), "record_progress": ()}


class Journal:
    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    @classmethod
    def of(cls, folder: Path, channel: str) -> Journal:
        """The journal of `channel`, in the folder of the database."""
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", channel)[:40]
        return cls(folder / f"{PREFIX}{safe}-{hashlib.sha1(channel.encode()).hexdigest()[:8]}.journal")

    def record(self, store: Store, call: str, message_id: str, channel: str, **kwargs: object) -> None:
        """`store.<call>(message_id, channel, **kwargs)`, written here first: after this one write a kill does not
        send the message again, however long the database makes the commit wait."""
        moments = CALLS[call]
        entry = {"call": call, "message_id": message_id, "channel": channel,
                 **{k: (v.isoformat() if k in moments and isinstance(v, datetime) else v) for k, v in kwargs.items()}}
        self._write((json.dumps(entry, ensure_ascii=False) + "\n").encode())
        getattr(store, call)(message_id, channel, **kwargs)
        os.ftruncate(self._fd, 0)  # recorded in the database: nothing left to replay

    def _write(self, line: bytes) -> None:
        os.write(self._fd, line)  # one append: after it returns, a kill -9 cannot undo it

    def replay(self, store: Store) -> int:
        """Record in the database what a killed process had written here and not there; returns how many.
        Each call sets the same columns to the same values, so one recorded already changes nothing."""
        done = 0
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                call = entry.pop("call")
                moments = CALLS[call]
            except (ValueError, KeyError, TypeError):  # a write cut short (no newline at its end): nothing to do
                log.warning("delivery journal: unreadable entry skipped: %.200s", line)
                continue
            message_id, channel = entry.pop("message_id"), entry.pop("channel")
            args = {k: (datetime.fromisoformat(v) if k in moments and isinstance(v, str) else v)
                    for k, v in entry.items()}
            getattr(store, call)(message_id, channel, **args)
            log.info("delivery journal: %s of message %s to %s recorded after an interruption", call, message_id,
                     channel)
            done += 1
        os.ftruncate(self._fd, 0)
        return done

    def close(self) -> None:
        os.close(self._fd)


def replay(store: Store, folder: Path, channels: list[str]) -> int:
    """The journals of `channels` recorded into the store (at the start of a round, before anything is sent). Only
    a round's own channels: another channel's journal may be in use by its own round in another thread."""
    done = 0
    for channel in channels:
        journal = Journal.of(folder, channel)
        try:
            done += journal.replay(store)
        finally:
            journal.close()
    return done
