"""Writing a file whole: a temp file beside it, then a rename, so a reader never sees half of it and a
crash leaves the old file or the new one. Used by the outbox and the Atom feeds."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` (text as UTF-8); the folder is made when missing (a store kept elsewhere, or
    in memory, leaves the state directory unmade). The temp name is hidden, so a watcher of *.json skips it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)
