"""The parsed config kept between runs: libyaml's parse of a 10,000-feed monitor.yaml costs ~0.15 s of CPU on every
`run --once`, more than the rest of loading it. The data of the last text that validated is kept as JSON in the
state directory, under a hash of the text and of the parser's code; any edit of the text misses it, so an edit
is parsed, checked and reported exactly as without it.

Only the YAML's data is kept, never the validated Config: validation and the secrets (read from the
environment) still happen on every load, and nothing the environment holds reaches the disk. Lines of the
top-level keys and channels come along, for start-up messages; any validation error parses the file again,
so every error still points at its `monitor.yaml:LINE`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from monitor import yamlfile

CACHE_NAME = "config-parsed.json"
_FORMAT = 1
# a top-level `state_dir:` line written plainly: where the cache is looked for before the text is parsed (the
# parse is what is saved); a state_dir written any other way leaves the config parsed every time
_STATE_DIR = re.compile(r"^state_dir:[ \t]*([^\s#'\"{\[&*!|>%@`][^#\n]*?)?[ \t]*(?:#[^\n]*)?$", re.MULTILINE)


class ParsedConfigCache:
    """The cache of one config text at `path`: `cached()` on loading, `keep()` once it has validated."""

    def __init__(self, path: Path, text: str):
        self.text = text
        self.hit = False
        self.file = _cache_file(path, text)
        self._key = _key(text) if self.file is not None else ""

    def cached(self) -> tuple[dict | None, yamlfile.Lines]:
        """(data, lines of the top-level keys and channels) kept for this very text, or (None, empty)."""
        if self.file is None:
            return None, yamlfile.Lines()
        try:
            kept = json.loads(self.file.read_bytes())
            if kept.get("key") != self._key or not isinstance(kept.get("data"), dict):
                return None, yamlfile.Lines()
            lines = yamlfile.Lines({tuple(path): yamlfile.Mark(*mark) for path, mark in kept["lines"]})
        except (OSError, ValueError, TypeError, KeyError):  # missing, half-written, or from another version
            return None, yamlfile.Lines()
        self.hit = True
        return kept["data"], lines

    def keep(self, state_dir: Path, data: dict, lines: yamlfile.Lines) -> None:
        """Save the parse of a text that validated, when its state directory is where `cached()` looks and
        exists; a read-only state directory, or data JSON cannot hold as it is (dates, binary), go unsaved."""
        if self.file is None or self.file.parent != state_dir or not state_dir.is_dir() or not _plain(data):
            return
        wanted = [(path, mark) for path, mark in lines.items()
                  if len(path) <= 1 or (len(path) == 2 and path[0] == "channels")]
        body = json.dumps({"key": self._key, "data": data,
                           "lines": [[list(path), [mark.line, mark.column, mark.style]] for path, mark in wanted]},
                          ensure_ascii=True, separators=(",", ":"))
        tmp = self.file.with_name(f".{CACHE_NAME}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the config may name private URLs
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(body)
            os.replace(tmp, self.file)
        except OSError:  # unsaved: the next load parses again
            with contextlib.suppress(OSError):
                tmp.unlink()


def _cache_file(path: Path, text: str) -> Path | None:
    """Where the parse of `text` would be kept: in the state directory its plain `state_dir:` line names
    (default `state` beside the config), or None when the text names it some other way."""
    if "state_dir" not in text:
        written = "state"
    else:
        found = [m for m in _STATE_DIR.finditer(text)]
        if len(found) != 1 or not found[0].group(1) or text.count("state_dir") != 1:
            return None
        written = found[0].group(1)
    try:
        return (path.parent / written).resolve() / CACHE_NAME
    except (OSError, ValueError, RuntimeError):
        return None


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass") + _code(), digest_size=32).hexdigest()


@lru_cache(maxsize=1)
def _code() -> bytes:
    """What else decides the parse: this format, PyYAML and libyaml, and the source of the loader."""
    try:
        source = Path(yamlfile.__file__).read_bytes()
    except OSError:
        source = b""
    return f"{_FORMAT}|{yaml.__version__}|{yamlfile.FAST_LOADER.__name__}|".encode() + source


def _plain(value: Any) -> bool:
    """Whether JSON gives `value` back exactly: str-keyed dicts, lists, str, int, bool, None, finite floats."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    if kind is float:
        return math.isfinite(value)
    return kind in (str, int, bool) or value is None
