"""The parsed config kept in the state directory (monitor/configcache.py): a load that uses it gives the same
Config as a load that parses the file, any edit is parsed and reported exactly as without it, and only the
YAML's data is kept (no secret from the environment reaches the disk)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.configcache import CACHE_NAME, ParsedConfigCache
from monitor.errors import ConfigError

TEXT = """\
# the analyst's config
state_dir: state   # beside this file
interval: 20m
max_age: 14d
fetch:
  allow_private_networks: true
  max_feed_bytes: 2MB
digest:
  at: ["07:30", "18:00"]
  timezone: Europe/Vilnius
channels:
  - type: file
  - type: webhook
    name: desk
    url: https://hooks.example.org/news
    secret_env: DESK_SECRET
feeds:
  - url: https://www.example.org/belarus/rss.xml
    name: Example desk
  - url: https://news.example.net/feed
    interval: 1h
  - {url: "https://feeds.example.com/world?format=rss&x=%C3%A9", name: "Flow, quoted \\u00e9"}
"""
ENV = {"DESK_SECRET": "a-secret-of-more-than-sixteen-bytes"}


def _write(folder: Path, text: str, state: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if state:
        (folder / "state").mkdir(exist_ok=True)
    path = folder / "monitor.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV if env is None else env)
    return str(caught.value)


def test_a_load_from_the_kept_parse_equals_a_load_that_parses(tmp_path):
    cached = _write(tmp_path / "cached", TEXT)
    parsed = _write(tmp_path / "parsed", TEXT, state=False)  # no state directory: nothing is kept there
    first = load_config(cached, env=ENV)
    assert (tmp_path / "cached" / "state" / CACHE_NAME).exists()
    assert ParsedConfigCache(cached, TEXT).cached()[0] is not None  # the next load takes the kept parse
    again = load_config(cached, env=ENV)
    fresh = load_config(parsed, env=ENV)
    assert not (tmp_path / "parsed" / "state").exists()
    for config in (first, again):
        moved = {"path": parsed, "state_dir": fresh.state_dir, "rules_dir": fresh.rules_dir}
        assert config.model_copy(update=moved) == fresh
        assert config.key_lines == fresh.key_lines == {
            "state_dir": 2, "interval": 3, "max_age": 4, "fetch": 6, "digest": 9, "channels": 12, "feeds": 18,
            "channels.0": 12, "channels.1": 13}
        assert config.feed_list() == fresh.feed_list()
        assert config.channels[1].secret == ENV["DESK_SECRET"].encode()


def test_the_kept_parse_holds_no_secret_and_only_its_owner_reads_it(tmp_path):
    path = _write(tmp_path, TEXT)
    load_config(path, env=ENV)
    kept = tmp_path / "state" / CACHE_NAME
    assert ENV["DESK_SECRET"] not in kept.read_text()
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert json.loads(kept.read_text())["data"]["feeds"][2]["name"] == "Flow, quoted \u00e9"


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("interval: 1h", "interval: soon"),                  # a validation error
    lambda t: t.replace("    name: desk\n", "    name: desk\n    colour: red\n"),  # an unknown key
    lambda t: t.replace("  - type: file\n", "  - type: file\n  - type: file\n"),  # a model error
    lambda t: t.replace("max_age: 14d", "max_age: [14d"),                  # broken YAML
    lambda t: t.replace("interval: 20m", "interval: 20m\ninterval: 30m"),  # a duplicate key
    lambda t: t + "extra: &a [1]\nmore: *a\n",                               # anchors
    lambda t: "- just\n- a list\n",                                          # not a mapping
])
def test_an_edit_after_a_kept_parse_is_reported_exactly_as_without_it(tmp_path, edit):
    cached = _write(tmp_path / "cached", TEXT)
    load_config(cached, env=ENV)
    load_config(cached, env=ENV)  # the kept parse is in use
    bad = edit(TEXT)
    cached.write_text(bad, encoding="utf-8")
    plain = _write(tmp_path / "plain", bad, state=False)
    assert _error(cached) == _error(plain).replace(str(plain), str(cached))
    assert ":" in _error(cached).split(str(cached))[1]  # still monitor.yaml:LINE


def test_an_error_outside_the_text_on_a_kept_parse_names_the_same_line(tmp_path):
    """The same text, but the environment lost the channel's secret: the kept parse knows the channel's line."""
    cached = _write(tmp_path / "cached", TEXT)
    load_config(cached, env=ENV)
    plain = _write(tmp_path / "plain", TEXT, state=False)
    message = _error(cached, env={})
    assert message == _error(plain, env={}).replace(str(plain), str(cached))
    assert f"{cached}:13: webhook channel 'desk'" in message


def test_a_damaged_or_foreign_kept_parse_is_ignored_and_replaced(tmp_path):
    path = _write(tmp_path, TEXT)
    kept = tmp_path / "state" / CACHE_NAME
    for damage in ("{not json", json.dumps({"key": "another text", "data": {"feeds": []}, "lines": []}), ""):
        kept.write_text(damage)
        config = load_config(path, env=ENV)
        assert len(config.feeds) == 3
        assert json.loads(kept.read_text())["data"]["interval"] == "20m"


@pytest.mark.parametrize("line", ["state_dir: 'state'", 'state_dir: "state"', "state_dir: state  # 'quoted' comment"])
def test_a_state_dir_written_any_way_still_loads(tmp_path, line):
    path = _write(tmp_path, TEXT.replace("state_dir: state   # beside this file", line))
    assert load_config(path, env=ENV).state_dir == (tmp_path / "state").resolve()
    assert load_config(path, env=ENV).feed_list() == load_config(path, env=ENV).feed_list()


def test_an_unwritable_state_directory_only_means_parsing_every_time(tmp_path):
    path = _write(tmp_path, TEXT)
    state = tmp_path / "state"
    os.chmod(state, 0o500)
    try:
        if os.access(state, os.W_OK):  # root writes anyway: the case cannot be made here
            pytest.skip("running as root")
        assert len(load_config(path, env=ENV).feeds) == 3
        assert not (state / CACHE_NAME).exists()
    finally:
        os.chmod(state, 0o700)


def test_a_config_moved_to_another_folder_finds_no_parse_kept_for_the_old_one(tmp_path):
    path = _write(tmp_path / "a", TEXT)
    load_config(path, env=ENV)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "state" / CACHE_NAME).unlink()
    moved = tmp_path / "b" / "monitor.yaml"
    assert load_config(moved, env=ENV).state_dir == (tmp_path / "b" / "state").resolve()
