"""A rule and the book of every rule in force: what matching and deciding read (the YAML loader,
`rules/files.py`, builds them).

Pure: no file access; a RuleBook compiles one RuleSet over its rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from monitor.rules.query import Node
from monitor.rules.ruleset import RuleSet

ALERT_MODES = ("digest", "immediate")
EVENTS = ("release",)  # event kinds a rule can ask for: its alerts then need a detected event


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    query: str  # the query in the language (compiled from the lists when the file uses lists)
    node: Node
    alert: str  # "digest" or "immediate"
    alert_when: Node | None  # with alert: immediate, only hits that also satisfy this alert
    path: Path
    event: str | None = None  # "release": alerts only for a report of a new release (monitor/decide/releases.py)
    must_match: tuple[str, ...] = ()
    must_not_match: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleBook:
    """Every rule of a rules directory, with one RuleSet to evaluate them all on one index."""

    rules: tuple[Rule, ...]
    aliases: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ruleset", RuleSet({r.name: r.node for r in self.rules}))

    def get(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]
