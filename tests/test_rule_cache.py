"""The rules' descriptions kept between digests (monitor/rulecache.py): read from the cache they are what loading
the rule book gives, any edit of the rules directory (or of the loader's code) loads it again, a directory that
fails to load fails every time (and the digest's headings fall back to the rule names, as without the cache),
and a damaged cache or a read-only state directory only costs a load."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.rulecache import _LOADER, CACHE_NAME, _code, rule_descriptions
from monitor.rules.files import load_rulebook
from tests.helpers import ROOT, cli


class Loads:
    """The loader, counted: passes through to load_rulebook."""

    def __init__(self, rules_dir: Path):
        self.rules_dir, self.count = rules_dir, 0

    def __call__(self):
        self.count += 1
        return load_rulebook(self.rules_dir)


@pytest.fixture
def dirs(tmp_path) -> tuple[Path, Path]:
    rules, state = tmp_path / "rules", tmp_path / "state"
    shutil.copytree(ROOT / "rules", rules)
    state.mkdir()
    return rules, state


def descriptions(rules: Path) -> dict[str, str]:
    return {r.name: r.description for r in load_rulebook(rules).rules}


def test_kept_descriptions_are_the_loaded_ones_in_rule_order(dirs):
    rules, state = dirs
    load = Loads(rules)
    first = rule_descriptions(rules, state, load)
    assert list(first.items()) == list(descriptions(rules).items()) and load.count == 1
    again = rule_descriptions(rules, state, load)
    assert list(again.items()) == list(first.items()) and load.count == 1  # read from the cache: not loaded
    assert len(first) == 4 and all(first.values())


@pytest.mark.parametrize("edit", ["description", "same size", "query", "aliases", "new file", "removed file",
                                  "renamed file", "yml file"])
def test_any_edit_of_the_rules_loads_them_again(dirs, edit):
    rules, state = dirs
    load = Loads(rules)
    rule_descriptions(rules, state, load)
    zapad = rules / "zapad.yaml"
    if edit == "description":
        zapad.write_text(zapad.read_text(encoding="utf-8").replace("description:", "description: Edited.", 1),
                         encoding="utf-8")
    elif edit == "same size":  # one letter's case: the same size and names, other bytes
        body = zapad.read_bytes()
        at = body.index(b"description:") + len(b"description: ")
        zapad.write_bytes(body[:at] + body[at:at + 1].swapcase() + body[at + 1:])
    elif edit == "query":
        zapad.write_bytes(zapad.read_bytes() + b"\n")
    elif edit == "aliases":
        (rules / "_aliases.yaml").write_bytes((rules / "_aliases.yaml").read_bytes() + b"\n# edited\n")
    elif edit == "new file":
        (rules / "extra.yaml").write_text('name: extra\ndescription: An extra rule\nquery: "potash"\n',
                                          encoding="utf-8")
    elif edit == "removed file":
        zapad.unlink()
    elif edit == "renamed file":
        zapad.rename(rules / "zapad-drills.yaml")
    else:
        (rules / "extra.yml").write_text('name: extra\ndescription: A .yml rule\nquery: "potash"\n',
                                         encoding="utf-8")
    got = rule_descriptions(rules, state, load)
    assert load.count == 2
    assert list(got.items()) == list(descriptions(rules).items())
    assert rule_descriptions(rules, state, load) == got and load.count == 2  # the edit is kept in turn


def test_a_directory_that_does_not_load_fails_every_time_and_is_not_kept(dirs):
    rules, state = dirs
    load = Loads(rules)
    rule_descriptions(rules, state, load)
    good = (rules / "zapad.yaml").read_bytes()
    (rules / "zapad.yaml").write_text('name: zapad\nquery: "unclosed\n', encoding="utf-8")
    for _ in range(2):
        with pytest.raises(RuleError) as raised:
            rule_descriptions(rules, state, load)
        with pytest.raises(RuleError) as direct:
            load_rulebook(rules)
        assert str(raised.value) == str(direct.value)
    (rules / "zapad.yaml").write_bytes(good)  # back as it was: the kept descriptions of these very bytes
    count = load.count
    assert rule_descriptions(rules, state, load) == descriptions(rules) and load.count == count
    with pytest.raises(RuleError):
        rule_descriptions(rules / "missing", state, Loads(rules / "missing"))


def test_the_loader_code_is_part_of_the_key(tmp_path):
    """An edit of the loader (the query language, tokens, YAML reader ...) can change what loads: it misses."""
    root = tmp_path / "monitor"
    for name in _LOADER:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "monitor" / name, root / name)
    assert _code(root) == _code()
    for name in _LOADER:
        before = _code(root)
        (root / name).write_bytes((root / name).read_bytes() + b"\n# edited\n")
        assert _code(root) != before, name


@pytest.mark.parametrize("damage", [b"", b"{", b'{"key": 1}', b'{"key": "x", "descriptions": 3}', b"[]"])
def test_a_damaged_cache_costs_a_load(dirs, damage):
    rules, state = dirs
    load = Loads(rules)
    rule_descriptions(rules, state, load)
    kept = json.loads((state / CACHE_NAME).read_bytes())
    if damage == b'{"key": "x", "descriptions": 3}':  # the right key, a wrong body
        damage = json.dumps({"key": kept["key"], "descriptions": 3}).encode()
    (state / CACHE_NAME).write_bytes(damage)
    assert rule_descriptions(rules, state, load) == descriptions(rules) and load.count == 2
    assert rule_descriptions(rules, state, load) == descriptions(rules) and load.count == 2  # written again


def test_an_unreadable_cache_location_costs_a_load_each_time(dirs):
    """Where the cache cannot be written or read (its name taken by a directory, as a read-only state directory
    would refuse it): loaded each time, nothing raised."""
    rules, state = dirs
    (state / CACHE_NAME).mkdir()
    load = Loads(rules)
    for n in (1, 2):
        assert rule_descriptions(rules, state, load) == descriptions(rules) and load.count == n


def untimed(text: str) -> str:
    return re.sub(r"\d\d:\d\d", "HH:MM", text)  # the header's local time may turn a minute between runs


def test_the_digest_headings_come_from_the_kept_descriptions_and_fall_back_as_before(write_config):
    """`digest --dry-run` twice (the second reads the cache) shows the same message; with a broken rule file its
    headings are the descriptions kept from the last load that worked, on every run, and it names the edit."""
    from datetime import UTC, datetime

    from monitor.models import Article, FeedItem, Hit
    from monitor.store import Store

    path = write_config([])
    seen = datetime.now(UTC)
    item = FeedItem("https://wire.example/feed", "Wire", "g1", "https://wire.example/a/1",
                    "Zapad drills near the border", "", seen)
    with Store.open(path.parent / "state" / "monitor.db") as store:
        store.add_article(Article(item=item, title=item.title, text="Zapad drills.", text_source="page"), "g1", "u1",
                          [Hit("zapad", (), False, snippet="Zapad drills.")], seen)
    heading = descriptions(path.parent / "rules")["zapad"].strip().rstrip(".")  # as the digest heads its topic
    first = cli(path, "digest", "--dry-run")
    assert (path.parent / "state" / CACHE_NAME).exists()
    second = cli(path, "digest", "--dry-run")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert heading in first.stdout and untimed(first.stdout) == untimed(second.stdout)
    (path.parent / "rules" / "sanctions.yaml").write_text('name: sanctions\nquery: "(unclosed"\n', encoding="utf-8")
    for _ in range(2):  # the headings of the rules as they last loaded; the edit not applied said at the top
        broken = cli(path, "digest", "--dry-run")
        assert broken.returncode == 0 and heading in broken.stdout, broken.stderr
        assert "1 rule edit not applied" in broken.stdout.splitlines()[0] and "sanctions.yaml" in broken.stdout
