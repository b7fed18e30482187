"""RuleSet: many named rules evaluated on one article, with a keyword automaton choosing which rules to
evaluate at all.

Pure: stdlib, pyahocorasick (an Aho-Corasick automaton in C) and monitor.rules (text, query, evaluate)
only; no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from operator import itemgetter

import ahocorasick

from monitor.rules.evaluate import Context, Match, Positions, Program, default_fields, marker
from monitor.rules.query import (
    Alias,
    And,
    Except,
    Field,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Sentences,
    Term,
    alternatives,
    children,
)
from monitor.text.tokens import TextIndex, searchable

# A clause is satisfied when the article has one of its exact tokens or a token with one of its stems.
_Clause = tuple[frozenset[str], tuple[str, ...]]
_MAX_COMBINATIONS = 8  # clauses an OR may contribute
_SCOPE = "\x1f"  # joins a field name and a word in scoped requirements; never part of a token


def _requirements(node: Node, scope: str = "") -> list[_Clause] | None:
    """Necessary conditions (all clauses must hold) for `node` to match; None when there are none.

    Words under a field scope are tagged with it ("title" + _SCOPE + word) and are looked up among the
    tagged words of that field only.
    """
    if isinstance(node, Term | Prefix | Phrase):
        tag = scope + _SCOPE if scope else ""
        return [(frozenset(), (tag + t,)) if prefix else (frozenset((tag + t,)), ()) for t, prefix in node.pattern]
    if isinstance(node, Or | Alias):
        needs = [n for c in alternatives(node) if (n := _requirements(c, scope))]
        if len(needs) < len(alternatives(node)):
            return None  # an alternative that needs nothing makes the whole OR need nothing
        # (a1 AND a2) OR (b1 AND b2) implies (a1 OR b1) AND (a1 OR b2) AND ...: keep every combination
        # while they are few, else only the union of each alternative's most selective clause.
        combos = 1
        for n in needs:
            combos *= len(n)
        if combos <= _MAX_COMBINATIONS:
            return [_union(picks) for picks in itertools.product(*needs)]
        return [_union([min(n, key=_clause_cost) for n in needs])]
    if isinstance(node, Except):  # its right side only vetoes
        return _requirements(node.left, scope)
    if isinstance(node, Sentences):
        return _requirements(node.child, scope)
    if isinstance(node, And | Near):
        found = [n for c in children(node) if (n := _requirements(c, scope))]
        return [c for n in found for c in n] or None
    if isinstance(node, Field):
        return _requirements(node.child, node.name)
    if isinstance(node, Not) and isinstance(node.child, Not):
        return _requirements(node.child.child, scope)
    return None  # NOT requires nothing to be present


def _union(clauses: Sequence[_Clause]) -> _Clause:
    stems = tuple(dict.fromkeys(s for c in clauses for s in c[1]))
    return frozenset().union(*(c[0] for c in clauses)), stems


# A clause as checked on the markers found: the markers that satisfy it on any field, or for a clause
# with field scopes, (scope or "" for any field, markers) pairs.
_Check = frozenset[str] | tuple[tuple[str, frozenset[str]], ...]


def _scoped_markers(clause: _Clause) -> Iterator[tuple[str, str]]:
    """(field scope or "", marker) of each word and stem that satisfies the clause."""
    exact, stems = clause
    for words, prefix in ((exact, False), (stems, True)):
        for tagged in words:
            scope, _, token = tagged.rpartition(_SCOPE)
            yield scope, marker(token, prefix)


def _check(clause: _Clause) -> _Check:
    by_scope: dict[str, set[str]] = {}
    for scope, name in _scoped_markers(clause):
        by_scope.setdefault(scope, set()).add(name)
    if list(by_scope) == [""]:
        return frozenset(by_scope[""])
    # The default fields first: their markers are at hand.
    return tuple((scope, frozenset(markers)) for scope, markers in sorted(by_scope.items()))


def _clause_cost(clause: _Clause) -> tuple[int, int]:
    exact, stems = clause
    # Fewer alternatives first; stems match more words than exact tokens; longer words are rarer.
    shortest = min((len(t) for t in (*exact, *stems)), default=0)
    return len(exact) + 4 * len(stems), -shortest


def _parts_of(node: Node) -> Iterator[tuple[str, bool]]:
    """Every (folded token, is a wildcard stem) of the tree's leaves, under NOT and in alias variants."""
    if isinstance(node, Term | Prefix | Phrase):
        yield from node.pattern
    elif isinstance(node, Alias):
        for v in node.variants:
            yield from _parts_of(v)
    else:
        for child in children(node):
            yield from _parts_of(child)


_value = itemgetter(1)


def _automaton(parts: Iterable[tuple[str, bool]]) -> ahocorasick.Automaton | None:
    """One keyword automaton for every field, from the rules' (token, is a stem) parts: " word " and
    " stem" keys, each valued with its marker; None when the rules have no words at all."""
    automaton = ahocorasick.Automaton()
    for token, prefix in parts:
        automaton.add_word(f" {searchable(token)}" if prefix else f" {searchable(token)} ", marker(token, prefix))
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


class RuleSet:
    """Many named rules evaluated on one TextIndex, skipping rules whose required words are absent.

    One keyword automaton (Aho-Corasick, pyahocorasick) holds every word of every rule as " word " and
    every wildcard stem as " stem"; one pass of it over a field's search text (its tokens joined by
    single spaces) finds all of them at once, whatever the number of rules. What it finds (markers: the
    word, or "stem*") answers the rules' single-word tests, and each marker satisfies some of the rules'
    necessary clauses (any-of word sets that must all be present). A rule is evaluated only when one
    selective clause (its trigger) and then all its clauses are satisfied.

    `matching` says which rules match (boolean tests on the index); `explain` and `match_all` also give
    each match its evidence and clauses.
    """

    def __init__(self, rules: Mapping[str, Node]):
        self.names = list(rules)
        self._numbers = {name: i for i, name in enumerate(self.names)}
        # one set of position functions for all: a subtree written in several rules is computed once
        positions = Positions()
        self._programs = [Program(node, positions) for node in rules.values()]
        # Each rule's necessary clauses as checks on the markers found (see _check). The most selective,
        # its trigger, indexes the rule by the markers that can satisfy it: a rule is looked at only when
        # one of those is found; then its other clauses are checked, most selective first.
        self._checks: list[tuple[_Check, ...]] = []
        triggered_by: dict[str, list[int]] = {}
        self._always: list[int] = []
        for i, program in enumerate(self._programs):
            clauses = sorted(dict.fromkeys(_requirements(program.node) or []), key=_clause_cost)
            # The trigger is checked last: it is found whenever the rule is looked at (but for its scope).
            self._checks.append(tuple(map(_check, clauses[1:] + clauses[:1])))
            if not clauses:
                self._always.append(i)
                continue
            for _, name in _scoped_markers(clauses[0]):
                triggered_by.setdefault(name, []).append(i)
        self._triggered_by = {name: tuple(rules) for name, rules in triggered_by.items()}
        self._automaton = _automaton(dict.fromkeys(itertools.chain.from_iterable(map(_parts_of, rules.values()))))

    def __len__(self) -> int:
        return len(self.names)

    def _markers_in(self, index: TextIndex, field: str) -> set[str]:
        """The markers of the rule words in one field and of the rule stems its words start with: one pass
        of the automaton over the field's search text."""
        if self._automaton is None:
            return set()
        return set(map(_value, self._automaton.iter(index.search_text(field))))

    def _scan(self, index: TextIndex) -> tuple[set[str], dict[str, set[str]]]:
        """(the markers of all default fields, the markers of each but the longest field and of each field
        searched only when named: the lead, a few lines whose words rules with `lead:` look up)."""
        defaults = default_fields(index)
        by_field = {field: self._markers_in(index, field) for field in defaults}
        if not by_field:
            return set(), {}
        longest = max(by_field, key=lambda f: len(index.search_text(f)))
        found = by_field.pop(longest)
        found.update(*by_field.values())
        for field in index.fields:
            if field not in defaults:
                by_field[field] = self._markers_in(index, field)
        return found, by_field

    @staticmethod
    def _context(index: TextIndex, found: set[str], by_field: Mapping[str, set[str]]) -> Context:
        """The Context of `_scan`'s markers. A field searched only when named is seen through its markers
        that are also in the default fields: the tests have always read "may it be there" from the default
        fields' markers, and a lead cut inside a word (600 characters without a space) holds a token the
        text does not; the rules' candidates are picked with the field's own markers, as before."""
        defaults = default_fields(index)
        return Context(index, found, {field: markers if field in defaults else markers & found
                                      for field, markers in by_field.items()})

    def _in_field(self, index: TextIndex, field: str, known: dict[str, AbstractSet[str]]) -> AbstractSet[str]:
        """The markers found in one field (kept in `known`)."""
        markers = known.get(field)
        if markers is None:
            markers = known[field] = self._markers_in(index, field)
        return markers

    def _candidates(self, index: TextIndex, found: AbstractSet[str],
                    found_in: Mapping[str, AbstractSet[str]]) -> list[int]:
        """Indexes of the rules whose necessary words all occur in the article (`found` and `found_in` as
        `_scan` gives them)."""
        triggered = set().union(*filter(None, map(self._triggered_by.get, found)))
        out = list(self._always)
        checks = self._checks
        in_field = dict(found_in)  # markers of single fields, for clauses with scopes
        for i in triggered:
            for check in checks[i]:
                if type(check) is frozenset:  # the usual clause, on any field
                    if check.isdisjoint(found):
                        break
                    continue
                for scope, markers in check:  # a clause with field scopes: one of its parts must hold
                    if not markers.isdisjoint(self._in_field(index, scope, in_field) if scope else found):
                        break
                else:
                    break
            else:
                out.append(i)
        out.sort()
        return out

    def context(self, index: TextIndex) -> Context:
        """The article as the rules' tests see it: with the markers of every rule word found in it (a tree
        whose words are not all among this set's rules needs a plain Context instead)."""
        return self._context(index, *self._scan(index))

    def _passing(self, index: TextIndex) -> tuple[Context, list[int]]:
        """The article as the rules' tests see it, and the indexes of the rules that match it, in order."""
        found, by_field = self._scan(index)
        ctx = self._context(index, found, by_field)
        programs, fields = self._programs, ctx.all_fields
        return ctx, [i for i in self._candidates(index, found, by_field) if programs[i].test(ctx, fields)]

    def matching(self, index: TextIndex) -> list[str]:
        """Names of the rules that match the article, in rule order; no evidence is computed."""
        return [self.names[i] for i in self._passing(index)[1]]

    def program(self, name: str) -> Program:
        """Rule `name` compiled: its tests read and fill a context's memo as the set's own evaluation does
        (for the failure walk of `rules near-misses`, after `matching` on the same context)."""
        return self._programs[self._numbers[name]]

    def explain(self, name: str, index: TextIndex) -> Match:
        """The Match of rule `name` on the article, with evidence and clauses (as `evaluate` gives it)."""
        return self._programs[self._numbers[name]].run(Context(index))

    def match_all(self, index: TextIndex) -> dict[str, Match]:
        """The rules that match the article, by name (in rule order), each with its Match."""
        ctx, passing = self._passing(index)
        return {self.names[i]: self._programs[i].explain(ctx) for i in passing}
