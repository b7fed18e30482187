"""Compiled templates kept on disk (monitor/render.py, templates/__pycache__) render exactly what templates
compiled afresh render: the spec is an environment without a cache. A kept file is really used (no compile), and
a directory that cannot be written or a damaged file only costs a compile."""

from __future__ import annotations

import pytest

from monitor import render
from monitor.digest import build_data
from tests.message_builders import LAYOUT, NOW, SUPPRESSED, day, failing_feeds

TEMPLATES = {True: "message.html.j2", False: "message.txt.j2"}


@pytest.fixture(scope="module")
def data() -> dict:
    """A realistic day with failing feeds, rule errors and folded copies: every part of both templates."""
    return build_data("digest", day(), NOW, failing_feeds(), ["rules/zapad.yaml:3: unknown key 'qeury'"],
                      SUPPRESSED, layout=LAYOUT, ledger="9 releases this month")


def rendered(autoescape: bool, cache, data: dict, compiles: list[str] | None = None) -> str:
    """Both templates of a fresh environment (no template held in memory); `compiles` collects what it compiled."""
    env = render._env(autoescape, cache)
    if compiles is not None:
        compile_ = env.compile

        def counted(source, name=None, filename=None, *args, **kwargs):
            compiles.append(name)
            return compile_(source, name, filename, *args, **kwargs)

        env.compile = counted
    return env.get_template(TEMPLATES[autoescape]).render(render._context(data))


@pytest.mark.parametrize("autoescape", [True, False], ids=["html", "text"])
def test_kept_templates_render_what_fresh_ones_do(tmp_path, data, autoescape):
    spec = rendered(autoescape, None, data)
    first, again = [], []
    assert rendered(autoescape, tmp_path, data, first) == spec  # compiled, then kept
    assert first == [TEMPLATES[autoescape]]
    assert rendered(autoescape, tmp_path, data, again) == spec  # loaded from the kept file
    assert again == []
    assert len(list(tmp_path.glob("*.jinja"))) == 1


def test_each_flavour_keeps_its_own_file(tmp_path, data):
    """The two environments compile differently (autoescape): their files never stand in for each other."""
    for autoescape in (True, False):
        rendered(autoescape, tmp_path, data)
    names = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.jinja"))
    assert len(names) == 2 and names[0] != names[1]


@pytest.mark.parametrize("autoescape", [True, False], ids=["html", "text"])
def test_a_damaged_file_or_an_unwritable_place_only_costs_a_compile(tmp_path, data, autoescape):
    spec = rendered(autoescape, None, data)
    rendered(autoescape, tmp_path, data)
    for kept in tmp_path.glob("*.jinja"):
        kept.write_bytes(kept.read_bytes()[:40] + b"damaged")
    compiles: list[str] = []
    assert rendered(autoescape, tmp_path, data, compiles) == spec
    assert compiles == [TEMPLATES[autoescape]]
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert rendered(autoescape, blocked / "cache", data) == spec


def test_the_module_renders_through_the_kept_templates(data):
    assert render._HTML.bytecode_cache is not None and render._TEXT.bytecode_cache is not None
    assert render.render_html(data) == rendered(True, None, data)
    assert render.render_text(data) == rendered(False, None, data)
