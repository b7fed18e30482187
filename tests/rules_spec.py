"""The rule engine as it was before issue 13's evaluation work (monitor/rules/evaluate.py and ruleset.py at
main 021d873, and matching.py's lead and match_article), unchanged but for their imports joined here and evaluate()
reusing the compiled Program: the specification that tests/test_same_rule_decisions.py runs beside the engine in
force. Not used by the monitor."""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from operator import itemgetter

import ahocorasick

from monitor.models import Evidence, Hit
from monitor.rules.book import RuleBook
from monitor.rules.matching import matched_words, snippet
from monitor.rules.query import (
    DEFAULT_FIELDS,
    Alias,
    And,
    Except,
    Field,
    Leaf,
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
    is_positional,
    to_string,
)
from monitor.text.sentences import SENTENCE_BREAK, SENTENCE_END
from monitor.text.tokens import TextIndex, searchable

EVIDENCE_PER_TERM = 3  # occurrences reported per term and field; enough to show where, cheap to compute


@dataclass(frozen=True)
class Match:
    """The outcome of one rule on one article."""

    matched: bool
    evidence: tuple[Evidence, ...] = ()  # char offsets in the field text, field name, the query term
    clauses: tuple[str, ...] = ()  # human-readable satisfied clauses, e.g. 'prisoner* NEAR/10 release*'


NO_MATCH = Match(False)

# Positions: a hit is (first, last) token position of a match in one field; hits are sorted.
_Hit = tuple[int, int]
# For evidence a span also carries its leaves: (label, first, last) of the query terms that produced it.
_Leaves = tuple[tuple[str, int, int], ...]
_Span = tuple[int, int, _Leaves]
# Evidence before it becomes an Evidence object: (field, term, start, end).
_Place = tuple[str, str, int, int]
_NO_POSITIONS: list[int] = []  # shared; callers never modify position lists
_by_start = itemgetter(0)
_by_end = itemgetter(1)


def marker(token: str, prefix: bool) -> str:
    """How a rule word is named among the markers found: itself, or "stem*" for a wildcard stem (tokens
    never hold "*")."""
    return token + "*" if prefix else token


class Context:
    """One article as the compiled tests see it.

    `found` (from a RuleSet) holds the rule words found in the default fields and the markers "stem*" of
    the wildcard stems their words start with: it answers the default scope's single-word tests and lets
    the others skip words that are absent; `found_in` holds the markers of single fields where the
    RuleSet kept them apart (the short ones, as the title). Without them the index's vocabularies answer."""

    __slots__ = ("_breaks", "all_fields", "found", "found_in", "index", "vocabularies")

    def __init__(self, index: TextIndex, found: AbstractSet[str] | None = None,
                 found_in: Mapping[str, AbstractSet[str]] | None = None):
        self.index = index
        self.found = found
        self.found_in = found_in or {}
        self._breaks: dict[str, list[int]] = {}  # field -> character offsets where its sentences end
        self.all_fields = default_fields(index)
        if found is None:
            # The fields' vocabularies answer single-word tests on the default scope by set lookups.
            self.vocabularies: tuple[AbstractSet[str], ...] = tuple(map(index.vocabulary, self.all_fields))
        else:
            self.vocabularies = (found,)

    def may_have(self, marker: str, field: str = "") -> bool:
        """False when the word (or "stem*") is certainly not in `field` (any field if ""); True may still
        mean absent."""
        if self.found is None:
            return True
        return marker in self.found_in.get(field, self.found)

    def has(self, field: str, token: str) -> bool:
        return self.may_have(token, field) and self.index.has(field, token)

    def has_prefix(self, field: str, stem: str) -> bool:
        return self.may_have(marker(stem, True), field) and self.index.has_prefix(stem, field)

    def sentence(self, field: str, position: int) -> int:
        """The number of the sentence of `field` that holds the token at `position` (computed only for the
        rules that use EXCEPT or SENTENCES, on the articles they are evaluated on)."""
        breaks = self._breaks.get(field)
        if breaks is None:
            breaks = self._breaks[field] = sentence_breaks(self.index.text(field))
        return bisect_right(breaks, self.index.span(field, position)[0])


def sentence_breaks(text: str) -> list[int]:
    """Offsets in `text` where a sentence ends: the one splitter of monitor.text.sentences, which knows the
    full stops of initials and abbreviations ("U.S. envoy", "Gen. Cole")."""
    return [m.start() for m in SENTENCE_END.finditer(text)]


def default_fields(index: TextIndex) -> tuple[str, ...]:
    """The fields an unscoped query term searches: title and text, or all the article has if neither."""
    return tuple(f for f in index.fields if f in DEFAULT_FIELDS) or index.fields


_Test = Callable[[Context, tuple[str, ...]], bool]
_Hits = Callable[[Context, str], list[_Hit]]
_Points = Callable[[Context, str], list[int]]
# Collects the evidence and (unless None) the satisfied clauses of a node that matched.
_Explain = Callable[[Context, tuple[str, ...], list[_Place], list[str] | None], None]


class Program:
    """A tree compiled once into closures, one truth test per node (kept by node id for explanations).

    Tests answer from the vocabulary where they can; positions are read only for phrases and NEAR.
    """

    def __init__(self, node: Node):
        self.node = node
        self.tests: dict[int, _Test] = {}
        self.labels: dict[int, str] = {}  # node id -> printed text, for explanations
        self.test = self._compile(node)
        self._explain_walk: _Explain | None = None  # compiled on the first match

    def _compile_explain(self, node: Node) -> _Explain:
        """The explainer's walk of `node`, compiled into closures: node types and labels are resolved
        once per rule, not at every match. Each collects the node's evidence and, unless `clauses` is
        None, its satisfied clauses."""
        if isinstance(node, And):
            parts = tuple(map(self._compile_explain, node.children))

            def explain_and(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                            clauses: list[str] | None) -> None:
                for part in parts:
                    part(ctx, fields, evidence, clauses)
            return explain_and
        if isinstance(node, Or | Alias):
            choices = tuple((self.tests[id(c)], self._compile_explain(c)) for c in alternatives(node))
            alias = self.label(node) if isinstance(node, Alias) else None
            words = _single_words(node)
            # For an OR of single words on the default fields, the markers found say which alternatives hold.
            markers = tuple(marker(*word) for word in words) if words is not None else None

            def explain_or(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                           clauses: list[str] | None) -> None:
                if alias is not None and clauses is not None:
                    clauses.append(alias)
                    clauses = None  # the alias is the clause, not the variant that matched
                found = ctx.found
                if markers is not None and found is not None and fields is ctx.all_fields:
                    for name, (_, part) in zip(markers, choices, strict=True):
                        if name in found:
                            part(ctx, fields, evidence, clauses)
                    return
                for test, part in choices:
                    if test(ctx, fields):
                        part(ctx, fields, evidence, clauses)
            return explain_or
        if isinstance(node, Not | Near | Except | Sentences):
            label = self.label(node)
            # NEAR and EXCEPT: the evidence is the spans that hold (pairs near each other, matches not vetoed);
            # SENTENCES: its operand's spans; NOT: none
            spanned = node.child if isinstance(node, Sentences) else None if isinstance(node, Not) else node

            def explain_clause(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                               clauses: list[str] | None) -> None:
                if clauses is not None:
                    clauses.append(label)
                if spanned is not None:
                    explainer = _Explainer(self, ctx)
                    for field in fields:
                        evidence.extend(explainer._evidence(field, explainer.spans(spanned, field)))
            return explain_clause
        if isinstance(node, Field):
            inner_walk, name = self._compile_explain(node.child), node.name
            positional, label = is_positional(node.child), self.label(node)

            def explain_field(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                              clauses: list[str] | None) -> None:
                inner: list[str] | None = [] if clauses is not None else None
                inner_walk(ctx, _narrow(fields, name), evidence, inner)
                if clauses is not None and inner is not None:
                    if positional:
                        clauses.append(label)
                    else:
                        clauses.extend(f"{name}:{c}" if " " not in c else f"{name}:({c})" for c in inner)
            return explain_field
        if isinstance(node, Term | Prefix | Phrase):
            return _leaf_explain(self, node, self.label(node))
        raise TypeError(f"not a query node: {node!r}")

    def label(self, node: Node) -> str:
        """The printed text of a node of this tree (`to_string`), formatted once."""
        text = self.labels.get(id(node))
        if text is None:
            text = self.labels[id(node)] = to_string(node)
        return text

    def _compile(self, node: Node) -> _Test:
        test = self._make(node)
        self.tests[id(node)] = test
        return test

    def _make(self, node: Node) -> _Test:
        if isinstance(node, Term | Prefix | Phrase):
            return _leaf_test(node)
        if isinstance(node, And):
            return _all_of(tuple(map(self._compile, node.children)))
        if isinstance(node, Or | Alias):
            test = _any_of(tuple(map(self._compile, alternatives(node))))
            words = _single_words(node)
            if words is None:
                return test
            markers = frozenset(marker(*word) for word in words)

            def test_words(ctx: Context, fields: tuple[str, ...]) -> bool:
                # An OR of single words on the default fields: one C-level set test against the markers found.
                if fields is ctx.all_fields and ctx.found is not None:
                    return not markers.isdisjoint(ctx.found)
                return test(ctx, fields)
            return test_words
        if isinstance(node, Not):
            inner = self._compile(node.child)
            return lambda ctx, fields: not inner(ctx, fields)
        if isinstance(node, Field):
            inner, name = self._compile(node.child), node.name
            if name not in DEFAULT_FIELDS:  # lead: a field of its own, searched only when named
                return lambda ctx, fields: fields is ctx.all_fields and inner(ctx, (name,))
            return lambda ctx, fields: name in fields and inner(ctx, (name,))
        if isinstance(node, Near):
            self._compile(node.left)
            self._compile(node.right)
            return _near_test(node)
        if isinstance(node, Except):
            self._compile(node.left)
            self._compile(node.right)
            hits = _hits_of(node)
            return lambda ctx, fields: any(hits(ctx, f) for f in fields)
        if isinstance(node, Sentences):
            self._compile(node.child)
            return _sentences_test(node)
        raise TypeError(f"not a query node: {node!r}")

    def run(self, ctx: Context) -> Match:
        return self.explain(ctx) if self.test(ctx, ctx.all_fields) else NO_MATCH

    def explain(self, ctx: Context) -> Match:
        """The Match of a tree that matched: its evidence and satisfied clauses."""
        evidence: list[_Place] = []
        clauses: list[str] = []
        walk = self._explain_walk
        if walk is None:
            walk = self._explain_walk = self._compile_explain(self.node)
        walk(ctx, ctx.all_fields, evidence, clauses)
        # Places stay plain tuples until here, deduplicated and sorted by C-level tuple hashing and
        # comparison; only the unique ones become Evidence objects.
        order = {f: i for i, f in enumerate(ctx.index.fields)}
        unique = sorted([(order.get(p[0], 0), p[2], p[3], p[1], p[0]) for p in set(evidence)])
        return Match(True, tuple([Evidence(f, term, start, end) for _, start, end, term, f in unique]),
                     tuple(dict.fromkeys(clauses)))


def _all_of(parts: tuple[_Test, ...]) -> _Test:
    def test(ctx: Context, fields: tuple[str, ...]) -> bool:
        for part in parts:  # noqa: SIM110 - a plain loop is ~2x faster than all(<genexpr>) here
            if not part(ctx, fields):
                return False
        return True
    return test


def _any_of(parts: tuple[_Test, ...]) -> _Test:
    def test(ctx: Context, fields: tuple[str, ...]) -> bool:
        for part in parts:  # noqa: SIM110 - as above
            if part(ctx, fields):
                return True
        return False
    return test


def _leaf_test(leaf: Leaf) -> _Test:
    if len(leaf.pattern) > 1:
        hits = _hits_of(leaf)
        return lambda ctx, fields: any(hits(ctx, f) for f in fields)
    token, prefix = leaf.pattern[0]
    if prefix:
        stem_marker = marker(token, True)

        def test_prefix(ctx: Context, fields: tuple[str, ...]) -> bool:
            if fields is ctx.all_fields and ctx.found is not None:
                return stem_marker in ctx.found
            for f in fields:  # noqa: SIM110 - hot path, see _all_of
                if ctx.has_prefix(f, token):
                    return True
            return False
        return test_prefix

    def test_token(ctx: Context, fields: tuple[str, ...]) -> bool:
        if fields is ctx.all_fields:
            for vocabulary in ctx.vocabularies:  # noqa: SIM110 - hot path, see _all_of
                if token in vocabulary:
                    return True
            return False
        return any(ctx.has(f, token) for f in fields)
    return test_token


def _near_test(node: Near) -> _Test:
    distance = node.distance
    left_points, right_points = _points_of(node.left), _points_of(node.right)
    if left_points and right_points:  # single words on both sides, the usual case: plain positions
        def test_points(ctx: Context, fields: tuple[str, ...]) -> bool:
            for f in fields:  # noqa: SIM110 - hot path, see _all_of
                if _near_points(left_points(ctx, f), right_points(ctx, f), distance):
                    return True
            return False
        return test_points
    left, right = _hits_of(node.left), _hits_of(node.right)

    def test_hits(ctx: Context, fields: tuple[str, ...]) -> bool:
        for f in fields:  # noqa: SIM110 - as above
            if _near_exists(left(ctx, f), right(ctx, f), distance):
                return True
        return False
    return test_hits


def _sentences_test(node: Sentences) -> _Test:
    hits, count = _hits_of(node.child), node.count

    def test(ctx: Context, fields: tuple[str, ...]) -> bool:
        # A match counts for its sentence when it lies within it: a NEAR reaching from one sentence into
        # the next is one piece of evidence, not two.
        seen: set[tuple[str, int]] = set()
        sentence = ctx.sentence
        for f in fields:
            for first, last in hits(ctx, f):
                number = sentence(f, first)
                if number == sentence(f, last):
                    seen.add((f, number))
                    if len(seen) >= count:
                        return True
        return False
    return test


def _unvetoed(ctx: Context, field: str, hits: list, vetoes: list[_Hit], distance: int) -> list:
    """The hits (tuples starting with first and last position) that no veto hit reaches: none in the same
    sentence (`distance` 0), or none within `distance` tokens."""
    if not vetoes:
        return hits
    if distance:
        return [h for h in hits if not any(max(vs - h[1], h[0] - ve) <= distance for vs, ve in vetoes)]
    sentence = ctx.sentence
    vetoed = {sentence(field, p) for v in vetoes for p in v}
    return [h for h in hits
            if not any(n in vetoed for n in range(sentence(field, h[0]), sentence(field, h[1]) + 1))]


def _points_of(node: Node) -> _Points | None:
    """Sorted token positions of a node made of one-word leaves (words, wildcards, ORs and aliases of
    them, under a field scope or not); None for phrases and NEAR, whose matches span several words."""
    if isinstance(node, Term | Prefix | Phrase):
        if len(node.pattern) > 1:
            return None
        part = node.pattern[0]
        return lambda ctx, field: _token_positions(ctx, field, part)
    if isinstance(node, Or | Alias):
        words = _single_words(node)
        if words is not None:
            keyed = tuple((marker(token, prefix), token, prefix) for token, prefix in words)

            def words_points(ctx: Context, field: str) -> list[int]:
                # An OR of single words: the positions of those found, merged.
                positions, found = ctx.index.positions, ctx.found_in.get(field, ctx.found)
                return _merged([hits for name, token, prefix in keyed
                                if (found is None or name in found) and (hits := positions(field, token, prefix))])
            return words_points
        parts = [_points_of(c) for c in alternatives(node)]
        if not all(parts):
            return None
        points = tuple(p for p in parts if p)

        return lambda ctx, field: _merged([hits for p in points if (hits := p(ctx, field))])
    if isinstance(node, Field):
        inner, name = _points_of(node.child), node.name
        if inner is None:
            return None
        return lambda ctx, field: inner(ctx, field) if field == name else []
    return None


def _merged(lists: list[list[int]]) -> list[int]:
    """Sorted positions merged from non-empty sorted lists; a single list is returned as it is (callers
    never modify position lists)."""
    if len(lists) > 1:
        return sorted(itertools.chain.from_iterable(lists))
    return lists[0] if lists else _NO_POSITIONS


def _single_words(node: Or | Alias) -> tuple[tuple[str, bool], ...] | None:
    """The (token, is a stem) of an OR or alias whose alternatives are all one-token words or wildcards."""
    choices = alternatives(node)
    if all(isinstance(c, Term | Prefix | Phrase) and len(c.pattern) == 1 for c in choices):
        return tuple(c.pattern[0] for c in choices)
    return None


def _near_points(left: list[int], right: list[int], distance: int) -> bool:
    """Whether two different positions, one from each sorted list, are at most `distance` apart."""
    if not left or not right:
        return False
    if len(left) > len(right):
        left, right = right, left
    end = len(right)
    for p in left:
        i = bisect_left(right, p - distance)
        while i < end and right[i] <= p + distance:
            if right[i] != p:
                return True
            i += 1
    return False


def _hits_of(node: Node) -> _Hits:
    """Positions of a positional node (leaf, OR, alias, field, NEAR) in one field."""
    if isinstance(node, Term | Prefix | Phrase):
        if len(node.pattern) == 1:
            part = node.pattern[0]
            return lambda ctx, field: _pairs(_token_positions(ctx, field, part))
        return lambda ctx, field: [(s, e) for s, e, _ in _leaf_spans(ctx, node, field, "")]
    if isinstance(node, Or | Alias):
        # The one-word alternatives (words, wildcards, aliases and ORs of them) as one set of points, read
        # from the markers found; only the others (phrases, NEARs...) are asked one by one.
        choices = alternatives(node)
        words = tuple(c for c in choices if _points_of(c) is not None)
        points = _points_of(Or(words)) if len(words) > 1 else _points_of(words[0]) if words else None
        parts = tuple(_hits_of(c) for c in choices if _points_of(c) is None)
        if points is not None and not parts:
            return lambda ctx, field: _pairs(points(ctx, field))

        def or_hits(ctx: Context, field: str) -> list[_Hit]:
            found = [h for p in parts if (h := p(ctx, field))]
            if points is not None and (single := points(ctx, field)):
                found.append(_pairs(single))
            return sorted(itertools.chain.from_iterable(found)) if len(found) > 1 else found[0] if found else []
        return or_hits
    if isinstance(node, Field):
        inner, name = _hits_of(node.child), node.name
        return lambda ctx, field: inner(ctx, field) if field == name else []
    if isinstance(node, Near):
        left, right, distance = _hits_of(node.left), _hits_of(node.right), node.distance
        return lambda ctx, field: [(s, e) for s, e, _ in _near(
            [(*h, ()) for h in left(ctx, field)], [(*h, ()) for h in right(ctx, field)], distance)]
    if isinstance(node, Except):
        kept, veto, distance = _hits_of(node.left), _hits_of(node.right), node.distance

        def except_hits(ctx: Context, field: str) -> list[_Hit]:
            found = kept(ctx, field)
            return _unvetoed(ctx, field, found, veto(ctx, field), distance) if found else found
        return except_hits
    return lambda ctx, field: []  # AND / NOT / SENTENCES have no positions; the parser keeps them out of NEAR


def _pairs(positions: list[int]) -> list[_Hit]:
    return list(zip(positions, positions, strict=True))


def _leaf_spans(ctx: Context, leaf: Leaf, field: str, label: str) -> list[_Span]:
    """Every match of a leaf's token pattern in `field`, as spans labelled with `label`."""
    pattern = leaf.pattern
    if len(pattern) > 1 and ctx.found is not None and not all(ctx.may_have(marker(*part), field)
                                                                for part in pattern[1:]):
        return []  # a later word of the phrase is not in the article
    starts = _token_positions(ctx, field, pattern[0])
    if len(pattern) == 1:
        return [(p, p, ((label, p, p),)) for p in starts]
    tokens = ctx.index.tokens(field)
    last = len(tokens) - len(pattern)
    out = []
    for p in starts:
        if p <= last and all(
                tokens[p + k].startswith(t) if prefix else tokens[p + k] == t
                for k, (t, prefix) in enumerate(pattern[1:], 1)):
            end = p + len(pattern) - 1
            out.append((p, end, ((label, p, end),)))
    return out


def _token_positions(ctx: Context, field: str, part: tuple[str, bool]) -> list[int]:
    token, prefix = part
    return ctx.index.positions(field, token, prefix) if ctx.may_have(marker(token, prefix), field) else _NO_POSITIONS


def _near_exists(left: list[_Hit], right: list[_Hit], distance: int) -> bool:
    """Whether a left and a right hit are at most `distance` tokens apart: side by side, or one inside or
    across the other ("freed Belarusian dissidents": Belarusian within the release), but not the same span."""
    if not left or not right:
        return False
    if len(left) > len(right):  # symmetric: loop over the shorter side, bisect the longer
        left, right = right, left
    starts = list(map(_by_start, right))
    ends = sorted(map(_by_end, right))
    reach = max(e - s for s, e in right)  # the longest right hit: how far back an overlapping one can start
    for first, last in left:
        i = bisect_right(starts, last)  # first right hit starting after this one ends
        if i < len(starts) and starts[i] - last <= distance:
            return True
        j = bisect_left(ends, first) - 1  # last right hit ending before this one starts
        if j >= 0 and first - ends[j] <= distance:
            return True
        for k in range(bisect_left(starts, first - reach), i):  # right hits overlapping this one
            if right[k][1] >= first and right[k] != (first, last):
                return True
    return False


def _near(left: list[_Span], right: list[_Span], distance: int) -> list[_Span]:
    """Spans joining each side's span with its nearest partner within `distance`: side by side, or else
    overlapping it (not the same span).

    Distance counts token steps between the facing ends (adjacent words are 1 apart); bisect keeps this
    O((L + R) log R). For a NEAR that is itself an operand of NEAR, each span pairs with its nearest
    partner only.
    """
    out: dict[tuple[int, int], _Leaves] = {}
    for a, b in ((left, right), (right, left)):
        starts = [s[0] for s in b]
        by_end = sorted(b, key=_by_end)
        ends = [s[1] for s in by_end]
        reach = max((s[1] - s[0] for s in b), default=0)
        for first, last, leaves in a:
            best: _Span | None = None
            i = bisect_right(starts, last)
            if i < len(b) and b[i][0] - last <= distance:
                best = b[i]
            j = bisect_left(ends, first) - 1
            if j >= 0 and first - ends[j] <= distance and (best is None or first - ends[j] < best[0] - last):
                best = by_end[j]
            if best is None:
                best = next((c for c in b[bisect_left(starts, first - reach):i]
                             if c[1] >= first and (c[0], c[1]) != (first, last)), None)
            if best is not None:
                key = (min(first, best[0]), max(last, best[1]))
                if key not in out:
                    out[key] = tuple(sorted(leaves + best[2], key=_leaf_order))
    return [(s, e, leaves) for (s, e), leaves in sorted(out.items())]


_leaf_order = itemgetter(1, 2)


def _leaf_explain(program: Program, leaf: Leaf, label: str) -> _Explain:
    """The explainer of a leaf: its label as a clause and its first few occurrences as evidence."""
    if len(leaf.pattern) == 1 and not leaf.pattern[0][1]:
        token = leaf.pattern[0][0]

        def explain_token(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                          clauses: list[str] | None) -> None:
            if clauses is not None:
                clauses.append(label)
            first_spans = ctx.index.first_spans
            for field in fields:
                if ctx.may_have(token, field):
                    for start, end in first_spans(field, token, EVIDENCE_PER_TERM):
                        evidence.append((field, label, start, end))
        return explain_token

    def explain_leaf(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                     clauses: list[str] | None) -> None:
        if clauses is not None:
            clauses.append(label)
        explainer = _Explainer(program, ctx)
        for field in fields:
            evidence.extend(explainer._leaf_evidence(leaf, field, label))
    return explain_leaf


class _Explainer:
    """Evidence of the leaves and NEARs of a tree that matched; runs only for the few rules that do."""

    def __init__(self, program: Program, ctx: Context):
        self.program = program
        self.ctx = ctx
        self.index = ctx.index

    def _leaf_evidence(self, leaf: Leaf, field: str, label: str) -> Iterator[_Place]:
        """The first few occurrences of a leaf, without listing every occurrence of a wildcard."""
        index = self.index
        if len(leaf.pattern) == 1:  # a word or a wildcard: character spans found directly
            token, prefix = leaf.pattern[0]
            if not self.ctx.may_have(marker(token, prefix), field):
                return
            for start, end in index.first_spans(field, token, EVIDENCE_PER_TERM, prefix):
                yield field, label, start, end
            return
        spans = [(s, e) for s, e, _ in _leaf_spans(self.ctx, leaf, field, label)[:EVIDENCE_PER_TERM]]
        span = index.span
        for first, last in spans:
            if first == last:  # one token: one span lookup
                start, end = span(field, first)
                yield field, label, start, end
            else:
                yield field, label, span(field, first)[0], span(field, last)[1]

    def spans(self, node: Node, field: str) -> list[_Span]:
        if isinstance(node, Term | Prefix | Phrase):
            return _leaf_spans(self.ctx, node, field, self.program.label(node))
        if isinstance(node, Or | Alias):
            return sorted((s for c in alternatives(node) for s in self.spans(c, field)), key=_span_order)
        if isinstance(node, Field):
            return self.spans(node.child, field) if node.name == field else []
        if isinstance(node, Near):
            left = self.spans(node.left, field)
            right = self.spans(node.right, field)
            return _near(left, right, node.distance) if left and right else []
        if isinstance(node, Except):
            kept = self.spans(node.left, field)
            vetoes = [(s, e) for s, e, _ in self.spans(node.right, field)] if kept else []
            return _unvetoed(self.ctx, field, kept, vetoes, node.distance)
        return []

    def _evidence(self, field: str, spans: list[_Span]) -> Iterator[_Place]:
        seen: dict[str, int] = {}
        for _, _, leaves in spans:
            for label, first, last in leaves:
                if seen.get(label, 0) >= EVIDENCE_PER_TERM:
                    continue
                seen[label] = seen.get(label, 0) + 1
                if first == last:  # one token: one span lookup
                    start, end = self.index.span(field, first)
                    yield field, label, start, end
                else:
                    yield field, label, self.index.span(field, first)[0], self.index.span(field, last)[1]


def _narrow(fields: tuple[str, ...], name: str) -> tuple[str, ...]:
    return (name,) if name in fields or name not in DEFAULT_FIELDS else ()


_span_order = itemgetter(0, 1)


CLAUSE_CHARS = 120  # a clause printed for people is cut here: a rule's big OR groups would fill a screen


def short(label: str, limit: int = CLAUSE_CHARS) -> str:
    """`label` cut to `limit` characters, with … where it was cut."""
    return label if len(label) <= limit else label[:limit - 1].rstrip() + "…"


def failures(node: Node, index: TextIndex, ctx: Context | None = None, limit: int | None = None) -> list[str]:
    """Why `node` does not match the article: the clauses that failed in the alternative that came closest
    (fewest failed clauses), first failure first; [] when it matches. A clause is an operand of an AND, a
    missing side of a NEAR, or a NEAR whose sides are both there but too far apart. One failure: a near miss.
    `ctx`: the article as a RuleSet holding this tree sees it (faster: word tests are set lookups). `limit`:
    where more than that many clauses fail, their labels are enough (near misses ask for 1: how each of two
    failing clauses failed is not needed to know the article is no near miss)."""
    program = _program(node)
    ctx = ctx or Context(index)
    return _Failures(program, ctx).of(node, ctx.all_fields, limit)


_PROGRAMS: dict[int, tuple[Node, Program]] = {}  # id -> (the tree, kept so the id stays its own; its Program)
_PROGRAMS_KEPT = 64  # a rules directory's trees, with room for reloads; then the cache starts over


def _program(node: Node) -> Program:
    """The compiled Program of a rule's tree, compiled once (a big rule takes tens of milliseconds)."""
    kept = _PROGRAMS.get(id(node))
    if kept is None or kept[0] is not node:
        if len(_PROGRAMS) >= _PROGRAMS_KEPT:
            _PROGRAMS.clear()
        kept = _PROGRAMS[id(node)] = (node, Program(node))
    return kept[1]


class _Failures:
    """The failure walk of one tree on one article; each node's test is run once per scope."""

    def __init__(self, program: Program, ctx: Context):
        self.program, self.ctx = program, ctx
        self.held: dict[tuple[int, tuple[str, ...]], bool] = {}

    def holds(self, node: Node, fields: tuple[str, ...]) -> bool:
        key = (id(node), fields)
        held = self.held.get(key)
        if held is None:
            held = self.held[key] = self.program.tests[id(node)](self.ctx, fields)
        return held

    def label(self, node: Node) -> str:
        return short(self.program.label(node))

    def first(self, node: Node, fields: tuple[str, ...]) -> str:
        found = self.of(node, fields)
        return found[0] if found else self.label(node)

    def _each(self, failing: list[Node], fields: tuple[str, ...], limit: int | None) -> list[str]:
        """The first failure of each failing operand; past `limit` of them, their labels (as many)."""
        if limit is not None and len(failing) > limit:
            return [self.label(c) for c in failing]
        return [self.first(c, fields) for c in failing]

    def of(self, node: Node, fields: tuple[str, ...], limit: int | None = None) -> list[str]:
        """The failures of `node`; with `limit`, a list longer than that may hold labels instead (its length is
        exact: the walk skips only how each of too many failing clauses failed)."""
        if self.holds(node, fields):
            return []
        if isinstance(node, And):
            return self._each([c for c in node.children if not self.holds(c, fields)], fields, limit)
        if isinstance(node, Or):
            if all(isinstance(c, Term | Prefix | Phrase | Alias) for c in node.children):
                return [f"{self.label(node)}: none found"]
            closest: list[str] | None = None
            for child in node.children:  # the first alternative with the fewest failures, as min() would pick
                found = self.of(child, fields, limit)
                if closest is None or len(found) < len(closest):
                    closest = found
                    if len(found) == 1:  # a failing alternative fails at least once: none can come closer
                        break
            return closest or []
        if isinstance(node, Near):
            missing = self._each([side for side in (node.left, node.right) if not self.holds(side, fields)],
                                 fields, limit)
            return missing or [f"{self.label(node)}: both there, not within {node.distance} words"]
        if isinstance(node, Except):
            if not self.holds(node.left, fields):
                return self.of(node.left, fields, limit)
            return [f"{self.label(node)}: every match vetoed"]
        if isinstance(node, Sentences):
            if not self.holds(node.child, fields):
                return self.of(node.child, fields, limit)
            return [f"{self.label(node)}: in fewer sentences"]
        if isinstance(node, Field):
            inner = self.of(node.child, (node.name,), limit)
            return [f if f.startswith(f"{node.name}:") else f"{node.name}:{f}" for f in inner] or [self.label(node)]
        if isinstance(node, Not):
            return [f"excluded by {self.label(node)}"]
        return [f"{self.label(node)}: not found"]


def evaluate(node: Node, index: TextIndex) -> Match:
    """Whether `node` matches the indexed article, with evidence offsets and the satisfied clauses."""
    # (at main the tree was compiled at each call; a Program holds no article state, so the cached one
    # gives the same Match, and the specification runs in the suite's time)
    return _program(node).run(Context(index))


def explain(match: Match, index: TextIndex) -> str:
    """One line saying why: the satisfied clauses (each cut to CLAUSE_CHARS), the matched terms, the field,
    and the sentence of the first evidence with every matched word in it [bracketed]."""
    if not match.matched:
        return "no match"
    why = "; ".join(map(short, match.clauses)) or "matched"
    if not match.evidence:
        return why
    field, sentence = bracketed(match, index)
    names = ", ".join(dict.fromkeys(e.term for e in match.evidence))
    return f'{why} — terms {names} — {field}: "{sentence}"'


def bracketed(match: Match, index: TextIndex) -> tuple[str, str]:
    """(field, the sentence of the first evidence with every matched word in it [bracketed], … where the
    sentence was cut); ("", "") without evidence."""
    if not match.evidence:
        return "", ""
    first = match.evidence[0]
    text = index.text(first.field)
    start, end, cut_left, cut_right = _sentence_bounds(text, first.start, first.end)
    inside = sorted({(e.start, e.end) for e in match.evidence
                     if e.field == first.field and start <= e.start and e.end <= end})
    pieces, cursor = [], start
    for s, e in inside:
        if s < cursor:  # overlapping evidence (a word inside a phrase): bracket the outer one only
            continue
        pieces += [text[cursor:s], "[", text[s:e], "]"]
        cursor = e
    pieces.append(text[cursor:end])
    sentence = " ".join("".join(pieces).split())
    return first.field, ("…" if cut_left else "") + sentence + ("…" if cut_right else "")


_REACH = 200  # characters looked at either side of the evidence


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int, bool, bool]:
    """(left, right, cut on the left, cut on the right) of the sentence around start..end."""
    lo = max(0, start - _REACH)
    breaks = [m.end() for m in SENTENCE_BREAK.finditer(text, lo, start)]
    left = breaks[-1] if breaks else lo
    hi = min(len(text), end + _REACH)
    after = SENTENCE_BREAK.search(text, end, hi)
    right = after.end() if after else hi
    cut_left = not breaks and lo > 0
    while left < start and text[left].isspace():
        left += 1
    return left, right, cut_left, not after and hi < len(text)



# -- ruleset.py ----

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
        self._programs = [Program(node) for node in rules.values()]
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
        """(the markers of all default fields, the markers of each but the longest field)."""
        by_field = {field: self._markers_in(index, field) for field in default_fields(index)}
        if not by_field:
            return set(), {}
        longest = max(by_field, key=lambda f: len(index.search_text(f)))
        found = by_field.pop(longest)
        found.update(*by_field.values())
        return found, by_field

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
        found, found_in = self._scan(index)
        return Context(index, found, found_in)

    def _passing(self, index: TextIndex) -> tuple[Context, list[int]]:
        """The article as the rules' tests see it, and the indexes of the rules that match it, in order."""
        ctx = self.context(index)
        programs, fields = self._programs, ctx.all_fields
        return ctx, [i for i in self._candidates(index, ctx.found, ctx.found_in) if programs[i].test(ctx, fields)]

    def matching(self, index: TextIndex) -> list[str]:
        """Names of the rules that match the article, in rule order; no evidence is computed."""
        return [self.names[i] for i in self._passing(index)[1]]

    def explain(self, name: str, index: TextIndex) -> Match:
        """The Match of rule `name` on the article, with evidence and clauses (as `evaluate` gives it)."""
        return self._programs[self._numbers[name]].run(Context(index))

    def match_all(self, index: TextIndex) -> dict[str, Match]:
        """The rules that match the article, by name (in rule order), each with its Match."""
        ctx, passing = self._passing(index)
        return {self.names[i]: self._programs[i].explain(ctx) for i in passing}


# -- matching.py ----

LEAD_CHARS = 600  # a lead longer than this (a text without full stops) is cut at a space

SNIPPET_CHARS = 320


# Where a piece of the lead comes from: (start in the lead, field, start in that field, length).
_Piece = tuple[int, str, int, int]


def lead_of(title: str, text: str) -> tuple[str, tuple[_Piece, ...]]:
    """(the lead, where its pieces come from). The lead is the headline, a line break and the text's first
    sentence. Extracted text often opens with a copy of the headline or with short template lines ("Connect
    with us", "World"): the first sentence is the first one after them. Without a title, a first line of
    four words or more that ends without a full stop is the headline."""
    headline, start = (title, 0), _first_line(text, 0)
    if title.strip() and text.startswith(title.strip()):
        start = _first_line(text, len(title.strip()))
    elif not title.strip() and start < len(text):
        line = text[start:text.find("\n", start) if "\n" in text[start:] else len(text)]
        if line.rstrip()[-1:] not in ".!?…\"'»”’)" and text.find("\n", start) >= 0:
            headline = (line, start)
            start = _first_line(text, start + len(line))
    chunk = text[start:start + LEAD_CHARS]
    ends = sentence_breaks(chunk)
    first = chunk[:ends[0]] if ends else chunk
    if len(first) == LEAD_CHARS and " " in first:
        first = first[:first.rindex(" ")]
    words, at = headline
    pieces = ((0, "title" if words is title else "text", at, len(words)), (len(words) + 1, "text", start, len(first)))
    return f"{words}\n{first}", pieces


def _first_line(text: str, start: int) -> int:
    """Where the first line of four words or more (or the last line) begins, from `start`: shorter lines
    before others are template ("World"; as for monitor.text.sentences.clean_text)."""
    for line in _LINE.finditer(text, start):
        if len(line.group().split()) >= _LEAD_LINE_WORDS or not text[line.end():].strip():
            return line.start() + len(line.group()) - len(line.group().lstrip())
    return len(text)


_LINE = re.compile(r"[^\n]+")
_LEAD_LINE_WORDS = 4


def index_article(title: str, text: str) -> TextIndex:
    """The article's title and text, and its lead (see lead_of) for rules that ask for `lead:`."""
    lead, _ = lead_of(title, text)
    return TextIndex.build({"title": title, "text": text, "lead": lead})


def in_title_and_text(match: Match, title: str, text: str) -> Match:
    """`match` with its evidence in the lead given as places in the title or the text, where it is."""
    if not any(e.field == "lead" for e in match.evidence):
        return match
    _, pieces = lead_of(title, text)
    moved = set()
    for e in match.evidence:
        if e.field == "lead":
            at, field, start, _ = next(p for p in reversed(pieces) if p[0] <= e.start)
            e = Evidence(field, e.term, e.start - at + start, e.end - at + start)
        moved.add(e)
    return replace(match, evidence=tuple(sorted(moved, key=lambda e: (e.field != "title", e.start, e.end, e.term))))


_RULESETS: dict[int, tuple[RuleBook, RuleSet]] = {}


def _ruleset(book: RuleBook) -> RuleSet:
    """The book's rules as this engine's RuleSet, made once per book (the book's own is the engine in force)."""
    kept = _RULESETS.get(id(book))
    if kept is None or kept[0] is not book:
        kept = _RULESETS[id(book)] = (book, RuleSet({r.name: r.node for r in book.rules}))
    return kept[1]


def match_article(book: RuleBook, title: str, text: str) -> list[Hit]:
    """Every rule of `book` that matches; only the title and the extracted text are ever seen."""
    index = index_article(title, text)
    hits = []
    for name, match in _ruleset(book).match_all(index).items():
        if not match.matched:
            continue
        match = in_title_and_text(match, title, text)
        rule = book.get(name)
        alert = rule is not None and rule.alert == "immediate" and (
            rule.alert_when is None or evaluate(rule.alert_when, index).matched)
        hits.append(Hit(rule=name, evidence=match.evidence, alert=alert,
                        snippet=snippet(index, match.evidence), why=explain(match, index),
                        words=matched_words(index, match.evidence)))
    return sorted(hits, key=lambda h: h.rule)


