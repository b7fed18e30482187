"""The rules' descriptions kept between digests: a digest reads only the rules' names and descriptions (its topic
headings), yet loading the rule book for them (YAML, every query parsed, the token pattern built from the Unicode
database) cost 60-90 ms of a ~0.9 s `digest --dry-run` at 1,000,000 stored articles. The descriptions of a rules
directory that loaded are kept as JSON in the state directory, under a hash of every rule file's name and bytes
and of the loader's code; any edit misses it, so an edited directory is loaded, and its errors raised, exactly as
without it. Only what loaded is kept: a directory that fails to load fails every time, and a digest then takes
the headings of the last directory that loaded (`kept_descriptions`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.rules.book import RuleBook

CACHE_NAME = "rules-descriptions.json"
ALIASES_FILE = "_aliases.yaml"  # as monitor/rules/files.py names it (importing it would parse nothing, but cost)
_FORMAT = 1
# the modules whose code decides whether a directory loads and what its descriptions are: the loader, the rule
# book, the query language and the tokens it folds words with, the YAML reader, the errors
_LOADER = ("rules/files.py", "rules/book.py", "rules/query.py", "text/tokens.py", "text/__init__.py",
           "yamlfile.py", "errors.py")


def rule_descriptions(rules_dir: Path, state_dir: Path, load: Callable[[], RuleBook]) -> dict[str, str]:
    """rule name -> description, in rule order: kept from the last load of this very directory (same files, same
    bytes, same loader), else `load()` (whose RuleError propagates) and kept for next time."""
    key = _key(rules_dir)
    file = state_dir / CACHE_NAME
    if key is not None:
        try:
            kept = json.loads(file.read_bytes())
            if kept.get("key") == key:
                return {str(name): str(description) for name, description in kept["descriptions"]}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):  # missing, damaged, another version
            pass
    descriptions = {rule.name: rule.description for rule in load().rules}
    if key is not None and key == _key(rules_dir) and state_dir.is_dir():  # not edited while it loaded
        _keep(file, {"key": key, "descriptions": list(descriptions.items())})
    return descriptions


def kept_descriptions(state_dir: Path) -> dict[str, str]:
    """The descriptions of the last rules directory that loaded here, whatever was edited since ({} if none):
    a digest's headings while an edit does not load (the service keeps that version in force)."""
    try:
        kept = json.loads((state_dir / CACHE_NAME).read_bytes())
        return {str(name): str(description) for name, description in kept["descriptions"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _key(rules_dir: Path) -> str | None:
    """A hash of the directory's rule files and aliases (names and bytes) and of the loader; None when a file
    cannot be read (the load reports it)."""
    digest = hashlib.blake2b(_code(), digest_size=32)
    if not rules_dir.is_dir():
        return None
    try:
        paths = sorted(rules_dir.glob("*.yaml")) + sorted(rules_dir.glob("*.yml"))
        for path in paths:
            if path.name.startswith(".") or (path.name.startswith("_") and path.name != ALIASES_FILE):
                continue
            body = path.read_bytes()
            digest.update(f"{path.name}\0{len(body)}\0".encode("utf-8", "surrogateescape") + body)
    except OSError:
        return None
    return digest.hexdigest()


def _code(root: Path | None = None) -> bytes:
    """The loader's code and what it reads with: this format, Python and its Unicode database, PyYAML and
    libyaml, the sources of _LOADER under `root` (the package)."""
    root = root or Path(__file__).parent
    parts = [f"{_FORMAT}|{sys.version}|{unicodedata.unidata_version}|".encode()]
    for name in _LOADER:
        try:
            parts.append(name.encode() + b"\0" + (root / name).read_bytes())
        except OSError:
            parts.append(name.encode() + b"\0?")
    with contextlib.suppress(ImportError):
        import yaml

        parts.append(f"|{yaml.__version__}|{getattr(yaml, '__with_libyaml__', False)}".encode())
    return b"\0".join(parts)


def _keep(file: Path, kept: dict) -> None:
    """Written whole (a temporary file renamed), or not at all: a read-only state directory only costs a load."""
    tmp = file.with_name(f".{CACHE_NAME}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(kept, ensure_ascii=True), encoding="ascii")
        os.replace(tmp, file)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
