"""Evaluating one query tree on one article's TextIndex: whether it matches, with evidence (where each
matched term occurred) and explanations (the clauses satisfied, the sentence with the words bracketed).

A tree is compiled once into closures (Program): truth tests that answer from word sets where they can
and read positions only for phrases and NEAR, and, on a tree's first match, the walk that collects its
evidence. Pure: stdlib, monitor.models and monitor.rules (text, query) only; no I/O.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import itemgetter

from monitor.models import Evidence
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
    is_positional,
    to_string,
)
from monitor.text.sentences import SENTENCE_BREAK, SENTENCE_END
from monitor.text.tokens import TextIndex

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
    return Program(node).run(Context(index))


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

