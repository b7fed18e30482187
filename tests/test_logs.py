"""Logs: INFO is one line per cycle (per-article story reasons only at DEBUG, with -v); `--log-format json`
writes one JSON object per line for log shippers."""

from __future__ import annotations

import json

from tests.helpers import cli


def test_json_logs_and_story_reasons_only_at_debug(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], extract={"workers": 0})
    quiet = cli(config, "--log-format", "json", "run", "--once")
    assert quiet.returncode == 0, quiet.stderr
    records = [json.loads(line) for line in quiet.stderr.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not [r for r in records if r["message"].startswith("stories: ")]
    assert "new articles" in quiet.stdout and "0 hits" not in quiet.stdout  # the fixture feed has hits

    verbose = cli(config.parent.joinpath("monitor.yaml"), "-v", "--log-format", "json", "run", "--once")
    assert verbose.returncode == 0, verbose.stderr
    assert all(json.loads(line) for line in verbose.stderr.splitlines())


def test_story_reasons_are_debug_lines(site, write_config):
    config = write_config([{"url": site.url("/feeds/northwire.xml")}], extract={"workers": 0})
    result = cli(config, "-v", "run", "--once")
    assert result.returncode == 0, result.stderr
    stories = [line for line in result.stderr.splitlines() if " monitor.pipeline: stories: " in line]
    assert stories and all(" DEBUG " in line for line in stories)
