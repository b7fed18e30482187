"""Commands handed to the running service: `digest` and `prune` run by hand while `news-monitor run` holds the
instance lock are written as a request file in state/requests/, which the service takes (an atomic rename, so a
request withdrawn by a command that stopped waiting is never run) and answers with a file beside it. The service
is then the only process that sends: queued messages cannot go out twice.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.atomic import write_atomic

FOLDER = "requests"
KINDS = ("digest", "prune")
POLL_SECONDS = 0.2  # how often a waiting command looks for its answer


@dataclass(frozen=True)
class Request:
    path: Path  # <id>.<kind>.json while waiting, <id>.<kind>.taken once the service has it
    kind: str

    @property
    def answer_path(self) -> Path:
        return self.path.with_name(self.path.name.split(".")[0] + ".answer.json")


def ask(state_dir: Path, kind: str, options: dict, wait: float) -> dict | None:
    """Hand `kind` to the service and wait up to `wait` seconds for its answer. None: not taken within `wait`,
    and withdrawn (the service will not run it). Once taken, waits for the answer however long it takes."""
    folder = state_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.{kind}.json"
    write_atomic(path, json.dumps({"kind": kind, "options": options, "pid": os.getpid()}).encode())
    request = Request(path, kind)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if (found := _answer(request)) is not None:
            return found
        time.sleep(POLL_SECONDS)
    try:
        path.rename(path.with_suffix(".withdrawn"))
    except FileNotFoundError:  # taken meanwhile: it runs, so its answer comes
        while (found := _answer(request)) is None:
            time.sleep(POLL_SECONDS)
        return found
    path.with_suffix(".withdrawn").unlink(missing_ok=True)
    return None


def _answer(request: Request) -> dict | None:
    try:
        found = json.loads(request.answer_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # not there yet (written atomically, so never half)
        return None
    request.answer_path.unlink(missing_ok=True)
    request.path.with_suffix(".taken").unlink(missing_ok=True)
    return found


def serve(state_dir: Path, handlers: dict[str, Callable[[dict], dict]]) -> int:
    """The service's side: take each waiting request (oldest first), run its handler, write the answer.
    A handler's exception is answered as {"error": ...}. Returns how many were answered."""
    folder = state_dir / FOLDER
    if not folder.is_dir():
        return 0
    waiting = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime if p.exists() else 0)
    done = 0
    for path in waiting:
        name = path.name.split(".")
        if len(name) != 3 or name[1] not in handlers:
            continue  # an answer not collected yet, or a kind this service does not know
        taken = path.with_suffix(".taken")
        try:
            path.rename(taken)  # from here the asker waits for our answer
        except FileNotFoundError:  # withdrawn
            continue
        request = Request(path, name[1])
        try:
            options = json.loads(taken.read_text(encoding="utf-8")).get("options", {})
            answer = handlers[name[1]](options)
        except Exception as exc:  # the asker is told; the service goes on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        write_atomic(request.answer_path, json.dumps(answer, ensure_ascii=False).encode())
        done += 1
    return done
