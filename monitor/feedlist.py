"""Adding feeds to monitor.yaml in place (`feeds import`): a round-trip edit with ruamel.yaml that keeps the
user's comments, order and layout, appends only feeds whose URL is not configured yet, and replaces the file
only after the edited config has been validated like any other (write beside it, load, rename)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.opml import OpmlFeed


def add_feeds(config_path: Path, feeds: Sequence[OpmlFeed]) -> tuple[list[OpmlFeed], list[OpmlFeed]]:
    """Append `feeds` to the config's `feeds:` list; returns (added, already configured or repeated)."""
    yaml = YAML()  # round-trip mode: comments and key order survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long URL onto two lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    text = config_path.read_text(encoding="utf-8")
    data = yaml.load(text)
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError(f"{config_path}:1: the config must be a mapping of keys (state_dir, feeds, ...)")
    listed = data.get("feeds")
    if listed is None:
        listed = data["feeds"] = CommentedSeq()
    if not isinstance(listed, list):
        raise ConfigError(f"{config_path}: feeds must be a list")
    known = {str(entry.get("url")) for entry in listed if isinstance(entry, dict)}
    added, skipped = [], []
    for feed in feeds:
        if feed.url in known:
            skipped.append(feed)
            continue
        known.add(feed.url)
        entry = CommentedMap(url=feed.url)
        if feed.title:
            entry["name"] = feed.title
        listed.append(entry)
        added.append(feed)
    if added:
        partial = config_path.with_name(config_path.name + ".partial")
        with partial.open("w", encoding="utf-8") as out:
            yaml.dump(data, out)
        try:
            load_config(partial)  # an OPML feed the config refuses (ftp://…) stops here, file untouched
        except ConfigError as exc:
            partial.unlink()
            raise ConfigError(str(exc).replace(str(partial), f"{config_path} (after import)")) from None
        os.replace(partial, config_path)
    return added, skipped
