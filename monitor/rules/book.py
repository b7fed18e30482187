"""A rule and the book of every rule in force: what matching and deciding read (the YAML loader,
`rules/files.py`, builds them).

Pure: no file access; a RuleBook compiles one RuleSet over its rules when it is first asked for: a reader that
wants only the rules' names and descriptions (the digest's topic headings) does not pay the compilation (~50 ms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.rules.query import Node

if TYPE_CHECKING:
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

    @cached_property
    def ruleset(self) -> RuleSet:
        """The one RuleSet of every rule, compiled on first use (a frozen dataclass's cached_property is kept in
        the instance's __dict__, not set through __setattr__)."""
        from monitor.rules.ruleset import RuleSet

        return RuleSet({r.name: r.node for r in self.rules})

    def get(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]
