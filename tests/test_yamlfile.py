"""yamlfile reads with libyaml's parser (yaml.CSafeLoader) for speed: it must give exactly what the
pure-Python SafeLoader gives — the data, every key path's line, column and style, and the same located
errors — so config and rule errors keep their file:line."""

from __future__ import annotations

import pytest
import yaml

from monitor import yamlfile
from tests.helpers import ROOT

PURE = yaml.SafeLoader


def test_the_fast_loader_is_libyamls():
    assert yaml.__with_libyaml__, "PyYAML without libyaml: config loading falls back to the slow parser"
    assert yamlfile.FAST_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("path", [ROOT / "monitor.yaml", *sorted((ROOT / "rules").glob("*.yaml"))],
                         ids=lambda p: p.name)
def test_same_data_and_marks_as_the_pure_loader(path):
    text = path.read_text(encoding="utf-8")
    fast_data, fast_lines = yamlfile.load(text)
    pure_data, pure_lines = yamlfile.load(text, PURE)
    assert fast_data == pure_data
    assert dict(fast_lines) == dict(pure_lines)


def test_many_feeds_with_unicode_and_block_scalars_load_alike():
    text = "feeds:\n" + "".join(
        f"  - url: https://outlet{n}.example/feed.xml\n    name: \"Навіны {n} — ü\"\n    interval: {n % 50 + 1}m\n"
        for n in range(300)) + "note: |\n  a block\n  scalar «with» Кириллица\nfolded: >\n  one\n  two\n"
    assert yamlfile.load(text) == yamlfile.load(text, PURE)


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # duplicate key
    "a: &x 1\nb: *x\n",  # anchors refused
    "a:\n  - b\n  c: d\n",  # broken structure
    "a: [1, 2\n",  # unclosed flow sequence
    "x:\n\t- tab\n",  # a tab where indentation belongs
    "base: &b {k: 1}\nother:\n  <<: *b\n",
])
def test_errors_are_located_at_the_same_line(text):
    with pytest.raises(yamlfile.YamlLocatedError) as fast:
        yamlfile.load(text)
    with pytest.raises(yamlfile.YamlLocatedError) as pure:
        yamlfile.load(text, PURE)
    assert fast.value.line == pure.value.line
    assert fast.value.line is not None
