"""Evaluating one query tree on one article's TextIndex: whether it matches, with evidence (where each
matched term occurred) and explanations (the clauses satisfied, the sentence with the words bracketed).

A tree is compiled once into closures (Program): truth tests that answer from word sets where they can
and read positions only for phrases and NEAR, and, on a tree's first match, the walk that collects its
evidence. Pure: stdlib, monitor.models and monitor.rules (text, query) only; no I/O.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

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
    Pattern,
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
    RuleSet kept them apart (the short ones, as the title). Without them the index's vocabularies answer.

    `memo` keeps what the position functions computed for this article (their matches per field): a test,
    another rule with the same subtree, and the evidence of a match read them instead of computing again."""

    __slots__ = ("_breaks", "all_fields", "found", "found_in", "index", "memo", "vocabularies")

    def __init__(self, index: TextIndex, found: AbstractSet[str] | None = None,
                 found_in: Mapping[str, AbstractSet[str]] | None = None):
        self.index = index
        self.found = found
        self.found_in = found_in or {}
        self._breaks: dict[str, _Breaks] = {}  # field -> where its sentences end, as far as asked
        self.memo: dict[tuple[object, str], list] = {}  # (position function, field) -> its matches
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
            breaks = self._breaks[field] = _Breaks(self.index.text(field))
        return breaks.number(self.index.span(field, position)[0])


# Where a sentence may end: SENTENCE_END matches only right after one of . ! ? … or at a line break.
_BREAK_AT = re.compile(r"[.!?…\n]")


class _Breaks:
    """The offsets where the sentences of one text end (SENTENCE_END's matches), found only as far into the
    text as a sentence number is asked for: a rule's matches sit mostly near the top of an article.

    Each candidate (a character after which SENTENCE_END could start) is tried with SENTENCE_END.match
    where finditer would have found it, so the offsets are finditer's, at a fraction of its cost (its
    lookbehinds run at every character)."""

    __slots__ = ("at", "offsets", "text")

    def __init__(self, text: str):
        self.text = text
        self.offsets: list[int] = []
        self.at = 0  # where the scan resumes: every end starting before it is known; -1 when all are

    def number(self, offset: int) -> int:
        """How many sentences end at or before `offset`: the number of the sentence holding it."""
        while 0 <= self.at <= offset:
            self._next()
        return bisect_right(self.offsets, offset)

    def all(self) -> list[int]:
        while self.at >= 0:
            self._next()
        return self.offsets

    def _next(self) -> None:
        text, at = self.text, self.at
        while (candidate := _BREAK_AT.search(text, at)) is not None:
            i = candidate.start()
            found = SENTENCE_END.match(text, i if text[i] == "\n" else i + 1)
            if found is not None:
                self.offsets.append(found.start())
                self.at = found.end()
                return
            at = i + 1
        self.at = -1


def sentence_breaks(text: str) -> list[int]:
    """Offsets in `text` where a sentence ends: the one splitter of monitor.text.sentences, which knows the
    full stops of initials and abbreviations ("U.S. envoy", "Gen. Cole")."""
    return _Breaks(text).all()


def first_sentence_end(text: str) -> int | None:
    """sentence_breaks(text)[0], or None where the text is one sentence; the rest is not looked for."""
    breaks = _Breaks(text)
    breaks.number(0)
    return breaks.offsets[0] if breaks.offsets else None


def default_fields(index: TextIndex) -> tuple[str, ...]:
    """The fields an unscoped query term searches: title and text, or all the article has if neither."""
    return tuple(f for f in index.fields if f in DEFAULT_FIELDS) or index.fields


_Test = Callable[[Context, tuple[str, ...]], bool]
_Hits = Callable[[Context, str], list[_Hit]]
_Points = Callable[[Context, str], list[int]]
_SpansOf = Callable[[Context, str], list[_Span]]
# Collects the evidence and (unless None) the satisfied clauses of a node that matched.
_Explain = Callable[[Context, tuple[str, ...], list[_Place], list[str] | None], None]


class Program:
    """A tree compiled once into closures, one truth test per node (kept by node id for explanations).

    Tests answer from the vocabulary where they can; positions are read only for phrases and NEAR.
    `positions`: the position functions compiled by subtree (shared by the Programs of one RuleSet).
    """

    def __init__(self, node: Node, positions: Positions | None = None):
        self.node = node
        self.positions = positions if positions is not None else Positions()
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
            spans = self.positions.spans(spanned) if spanned is not None else None

            def explain_clause(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                               clauses: list[str] | None) -> None:
                if clauses is not None:
                    clauses.append(label)
                if spans is not None:
                    for field in fields:
                        evidence.extend(_evidence(ctx.index, field, spans(ctx, field)))
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
            return _leaf_explain(node, self.label(node), self.positions.hits(node))
        raise TypeError(f"not a query node: {node!r}")

    def label(self, node: Node) -> str:
        """The printed text of a node of this tree (`to_string`), formatted once."""
        text = self.labels.get(id(node))
        if text is None:
            text = self.labels[id(node)] = to_string(node)
        return text

    def _compile(self, node: Node) -> _Test:
        test = self.tests.get(id(node))
        if test is None:  # (a subtree the tree holds more than once, an alias's, is compiled once)
            test = self.tests[id(node)] = self._make(node)
        return test

    def _make(self, node: Node) -> _Test:
        if isinstance(node, Term | Prefix | Phrase):
            return _leaf_test(node, self.positions.hits(node))
        if isinstance(node, And):
            return _all_of(tuple(map(self._compile, node.children)))
        if isinstance(node, Or | Alias):
            choices = alternatives(node)
            test = _any_of(tuple(map(self._compile, choices)))
            words = _single_words(node)
            if words is None:
                return _mixed_any_of(choices, test, self.tests)
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
            return _near_test(node, self.positions)
        if isinstance(node, Except):
            self._compile(node.left)
            self._compile(node.right)
            return _any_field(self.positions.hits(node))
        if isinstance(node, Sentences):
            self._compile(node.child)
            return _sentences_test(node, self.positions.hits(node.child))
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


def _one_word_markers(node: Node) -> frozenset[str] | None:
    """The markers of an alternative that is one word, a wildcard, or an OR or alias of them; else None."""
    if isinstance(node, Term | Prefix | Phrase):
        return frozenset((marker(*node.pattern[0]),)) if len(node.pattern) == 1 else None
    if isinstance(node, Or | Alias) and (words := _single_words(node)) is not None:
        return frozenset(marker(*word) for word in words)
    return None


def _mixed_any_of(choices: tuple[Node, ...], test: _Test, tests: Mapping[int, _Test]) -> _Test:
    """The test of an OR that mixes one-word alternatives with others (phrases, NEARs...): on the default
    fields, the one-word ones are one set test against the markers found, the others are tested in turn."""
    words = [m for c in choices if (m := _one_word_markers(c)) is not None]
    if not words:
        return test
    markers = frozenset().union(*words)
    others = tuple(tests[id(c)] for c in choices if _one_word_markers(c) is None)

    def test_mixed(ctx: Context, fields: tuple[str, ...]) -> bool:
        if fields is ctx.all_fields and ctx.found is not None:
            if not markers.isdisjoint(ctx.found):
                return True
            for other in others:  # noqa: SIM110 - hot path, see _all_of
                if other(ctx, fields):
                    return True
            return False
        return test(ctx, fields)
    return test_mixed


def _any_field(hits: _Hits) -> _Test:
    def test(ctx: Context, fields: tuple[str, ...]) -> bool:
        for f in fields:  # noqa: SIM110 - hot path, see _all_of
            if hits(ctx, f):
                return True
        return False
    return test


def _leaf_test(leaf: Leaf, hits: _Hits) -> _Test:
    if len(leaf.pattern) > 1:
        return _any_field(hits)
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


def _near_test(node: Near, positions: Positions) -> _Test:
    distance = node.distance
    left_points, right_points = _points_of(node.left), _points_of(node.right)
    if left_points and right_points:  # single words on both sides, the usual case: plain positions
        def test_points(ctx: Context, fields: tuple[str, ...]) -> bool:
            for f in fields:  # noqa: SIM110 - hot path, see _all_of
                if _near_points(left_points(ctx, f), right_points(ctx, f), distance):
                    return True
            return False
        return test_points
    left, right = positions.hits(node.left), positions.hits(node.right)

    def test_hits(ctx: Context, fields: tuple[str, ...]) -> bool:
        for f in fields:  # noqa: SIM110 - as above
            if _near_exists(left(ctx, f), right(ctx, f), distance):
                return True
        return False
    return test_hits


def _sentences_test(node: Sentences, hits: _Hits) -> _Test:
    count = node.count

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


class Positions:
    """Where the positional nodes of rule trees match in one field of an article, compiled once per subtree:
    `hits(node)` gives (first, last) token positions, `spans(node)` the same with the leaves that produced
    each (for evidence). Both are sorted.

    Equal subtrees (an alias group written in several places of a rule, or in several rules) compile to
    one function, and the functions of ORs, NEARs and EXCEPTs keep their answer in the article's
    Context.memo: a subtree is computed once per article and field, whoever asks (a test, another rule,
    the evidence of a match)."""

    def __init__(self) -> None:
        self._hits: dict[Node, _Hits] = {}
        self._spans: dict[Node, _SpansOf] = {}
        # The same node object asked again is answered by its id, without hashing it: a tree hashes its whole
        # subtree at every lookup (an alias's hundreds of variants), and compiling the rules and their
        # explanations asks for each node many times. (The node is kept beside its function, so that its id
        # cannot pass to another node while it is here.)
        self._hits_by_id: dict[int, tuple[Node, _Hits]] = {}
        self._spans_by_id: dict[int, tuple[Node, _SpansOf]] = {}

    def hits(self, node: Node) -> _Hits:
        return _compiled_once(node, self._hits_by_id, self._hits, self._compile_hits)

    def spans(self, node: Node) -> _SpansOf:
        return _compiled_once(node, self._spans_by_id, self._spans, self._compile_spans)

    def _compile_hits(self, node: Node) -> _Hits:
        if isinstance(node, Term | Prefix | Phrase):
            if len(node.pattern) == 1:
                points = _points_of(node)
                assert points is not None  # a one-token leaf has points
                return lambda ctx, field: _pairs(points(ctx, field))
            return _phrase_hits(node.pattern)
        if isinstance(node, Or | Alias):
            # The one-word alternatives (words, wildcards, aliases and ORs of them) as one set of points, read
            # from the markers found; only the others (phrases, NEARs...) are asked one by one, a phrase only
            # when all its words were found.
            choices = alternatives(node)
            words = tuple(c for c in choices if _points_of(c) is not None)
            points = _points_of(Or(words)) if len(words) > 1 else _points_of(words[0]) if words else None
            # the phrases by the marker of their first word: only those whose first word was found are
            # looked at, then only those whose every word was
            phrases: dict[str, list[tuple[frozenset[str], _Hits]]] = {}
            others = []  # NEARs, EXCEPTs...: each asked only when every word it needs was found in the field
            for c in choices:
                if _points_of(c) is None:
                    if (needs := _needs(c)) is not None:
                        phrases.setdefault(marker(*c.pattern[0]), []).append((needs, self.hits(c)))
                    else:
                        others.append((needed(c), self.hits(c)))
            starts = frozenset(phrases)
            every_phrase = tuple(part for group in phrases.values() for _, part in group)
            if points is not None and not phrases and not others:
                return _remembered(lambda ctx, field: _pairs(points(ctx, field)))

            def or_hits(ctx: Context, field: str) -> list[_Hit]:
                have = ctx.found
                if have is None:
                    found = [h for _, part in others if (h := part(ctx, field))]
                    found += [h for part in every_phrase if (h := part(ctx, field))]
                else:
                    have = ctx.found_in.get(field, have)
                    found = [h for needs, part in others if needs <= have and (h := part(ctx, field))]
                    for name in starts & have:
                        for needs, part in phrases[name]:
                            if needs <= have and (h := part(ctx, field)):
                                found.append(h)
                if points is not None and (single := points(ctx, field)):
                    found.append(_pairs(single))
                return sorted(itertools.chain.from_iterable(found)) if len(found) > 1 else found[0] if found else []
            return _remembered(or_hits)
        if isinstance(node, Field):
            inner, name = self.hits(node.child), node.name
            return lambda ctx, field: inner(ctx, field) if field == name else []
        if isinstance(node, Near):
            left, right, distance = self.hits(node.left), self.hits(node.right), node.distance

            def near_hits(ctx: Context, field: str) -> list[_Hit]:
                a = left(ctx, field)
                b = right(ctx, field) if a else None
                return sorted(_nearest(a, b, distance)) if a and b else []
            return _remembered(near_hits)
        if isinstance(node, Except):
            kept, veto, distance = self.hits(node.left), self.hits(node.right), node.distance

            def except_hits(ctx: Context, field: str) -> list[_Hit]:
                found = kept(ctx, field)
                return _unvetoed(ctx, field, found, veto(ctx, field), distance) if found else found
            return _remembered(except_hits)
        return lambda ctx, field: []  # AND / NOT / SENTENCES have no positions; the parser keeps them out of NEAR

    def _compile_spans(self, node: Node) -> _SpansOf:
        """As `hits`, each match with its leaves (label, first, last): what evidence is made of. A subtree
        whose hits (often known already from the tests) are none has no spans, and is not walked."""
        if isinstance(node, Term | Prefix | Phrase):
            hits, label = self.hits(node), to_string(node)
            return lambda ctx, field: [(s, e, ((label, s, e),)) for s, e in hits(ctx, field)]
        if isinstance(node, Or | Alias):
            known = self.hits(node)
            parts = tuple((needed(c), self.spans(c)) for c in alternatives(node))

            def or_spans(ctx: Context, field: str) -> list[_Span]:
                if not known(ctx, field):
                    return []
                have = ctx.found_in.get(field, ctx.found) if ctx.found is not None else None
                # an alternative with a word not found in the field has no spans there: not walked
                return sorted(itertools.chain.from_iterable(part(ctx, field) for needs, part in parts
                                                            if have is None or needs <= have), key=_span_order)
            return _remembered(or_spans)
        if isinstance(node, Field):
            inner, name = self.spans(node.child), node.name
            return lambda ctx, field: inner(ctx, field) if field == name else []
        if isinstance(node, Near):
            known, distance = self.hits(node), node.distance
            left, right = self.spans(node.left), self.spans(node.right)

            def near_spans(ctx: Context, field: str) -> list[_Span]:
                if not known(ctx, field):
                    return []
                pairs = _nearest(left(ctx, field), right(ctx, field), distance)
                return [(s, e, tuple(sorted(a[2] + b[2], key=_leaf_order))) for (s, e), (a, b) in sorted(pairs.items())]
            return _remembered(near_spans)
        if isinstance(node, Except):
            known, kept, veto, distance = self.hits(node), self.spans(node.left), self.hits(node.right), node.distance

            def except_spans(ctx: Context, field: str) -> list[_Span]:
                if not known(ctx, field):
                    return []
                found = kept(ctx, field)
                # the vetoes need no leaves: their hits (from the tests) say where they are
                return _unvetoed(ctx, field, found, veto(ctx, field) if found else [], distance)
            return _remembered(except_spans)
        return lambda ctx, field: []


def _remembered(compute: Callable[[Context, str], list]) -> Callable[[Context, str], list]:
    """`compute` answering from the article's memo after its first call per field."""
    def remembered(ctx: Context, field: str) -> list:
        key = (compute, field)
        found = ctx.memo.get(key)
        if found is None:
            found = ctx.memo[key] = compute(ctx, field)
        return found
    return remembered


def _compiled_once(node: Node, by_id: dict[int, tuple[Node, Any]], by_node: dict[Node, Any],
                   compile_: Callable[[Node], Any]) -> Any:
    """What `compile_` makes of `node`, made once per equal node (`by_node`) and found again by the node
    object's id (`by_id`, see Positions)."""
    known = by_id.get(id(node))
    if known is not None:
        return known[1]
    found = by_node.get(node)
    if found is None:
        found = by_node[node] = compile_(node)
    by_id[id(node)] = (node, found)
    return found


def needed(node: Node) -> frozenset[str]:
    """The markers (see `marker`) of the words without which `node` has no position in a field: a leaf's
    words, both sides of a NEAR, what every alternative of an OR needs, an EXCEPT's kept side. Where one of
    them is not among a field's markers found, each leaf that needs it finds no position there (the leaves
    read the same markers), so the node's hits and spans there are empty: not worth asking for."""
    if isinstance(node, Term | Prefix | Phrase):
        return frozenset(marker(*part) for part in node.pattern)
    if isinstance(node, Or | Alias):
        return frozenset.intersection(*map(needed, alternatives(node)))
    if isinstance(node, Field):
        return needed(node.child)
    if isinstance(node, Near):
        return needed(node.left) | needed(node.right)
    if isinstance(node, Except):
        return needed(node.left)
    return frozenset()  # AND, NOT, SENTENCES: no positions of their own


def _needs(node: Node) -> frozenset[str] | None:
    """The markers a phrase needs found in a field before it can match there (None: not a phrase)."""
    if isinstance(node, Term | Prefix | Phrase) and len(node.pattern) > 1:
        return needed(node)
    return None


def _phrase_hits(pattern: Pattern) -> _Hits:
    """(first, last) of every match of a pattern of several tokens: where its first token is, the others
    follow; nothing to look for unless every one of its words was found in the field."""
    needs = frozenset(marker(*part) for part in pattern)
    token, prefix = pattern[0]
    rest = tuple((k, t, p) for k, (t, p) in enumerate(pattern[1:], 1))
    extra = len(pattern) - 1

    def phrase_hits(ctx: Context, field: str) -> list[_Hit]:
        found = ctx.found
        if found is not None and not needs <= ctx.found_in.get(field, found):
            return []
        starts = ctx.index.positions(field, token, prefix)
        if not starts:
            return []
        tokens = ctx.index.tokens(field)
        last = len(tokens) - 1 - extra
        out = []
        for p in starts:
            if p > last:  # starts are sorted: the rest run past the end too
                break
            for k, t, is_stem in rest:
                word = tokens[p + k]
                if not (word.startswith(t) if is_stem else word == t):
                    break
            else:
                out.append((p, p + extra))
        return out
    return phrase_hits


def _points_of(node: Node) -> _Points | None:
    """Sorted token positions of a node made of one-word leaves (words, wildcards, ORs and aliases of
    them, under a field scope or not); None for phrases and NEAR, whose matches span several words."""
    if isinstance(node, Term | Prefix | Phrase):
        if len(node.pattern) > 1:
            return None
        token, prefix = node.pattern[0]
        name = marker(token, prefix)

        def leaf_points(ctx: Context, field: str) -> list[int]:
            return ctx.index.positions(field, token, prefix) if ctx.may_have(name, field) else _NO_POSITIONS
        return leaf_points
    if isinstance(node, Or | Alias):
        words = _flat_words(node)
        if words is not None:
            # marker -> (token, is a stem, how many alternatives name it: each counts, as ORed lists would)
            keyed: dict[str, tuple[str, bool, int]] = {}
            for token, prefix in words:
                name = marker(token, prefix)
                keyed[name] = (token, prefix, keyed[name][2] + 1 if name in keyed else 1)
            names = frozenset(keyed)

            def words_points(ctx: Context, field: str) -> list[int]:
                # An OR of single words (nested ORs and aliases of them too): the positions of those found
                # (one C-level set intersection says which), merged.
                positions, found = ctx.index.positions, ctx.found_in.get(field, ctx.found)
                lists = []
                for name in keyed if found is None else names & found:
                    token, prefix, count = keyed[name]
                    if hits := positions(field, token, prefix):
                        lists += [hits] * count
                return _merged(lists)
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


def _flat_words(node: Or | Alias) -> list[tuple[str, bool]] | None:
    """The (token, is a stem) of every alternative of an OR or alias made of one-token words and wildcards
    and of ORs and aliases of them, at any depth, once per alternative naming it; None if any is not."""
    out: list[tuple[str, bool]] = []
    for c in alternatives(node):
        if isinstance(c, Term | Prefix | Phrase):
            if len(c.pattern) > 1:
                return None
            out.append(c.pattern[0])
        elif isinstance(c, Or | Alias) and (inner := _flat_words(c)) is not None:
            out += inner
        else:
            return None
    return out


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


def _pairs(positions: list[int]) -> list[_Hit]:
    return list(zip(positions, positions, strict=True))


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


def _nearest(left: list, right: list, distance: int) -> dict[tuple[int, int], tuple]:
    """Each side's match (a tuple starting with first and last position: a hit or a span) joined with its
    nearest partner within `distance`: side by side, or else overlapping it (not the same match). Returns
    {(first, last) of the pair: (the match, its partner)}, the first pair found for each extent.

    Distance counts token steps between the facing ends (adjacent words are 1 apart); bisect keeps this
    O((L + R) log R). For a NEAR that is itself an operand of NEAR, each match pairs with its nearest
    partner only.
    """
    out: dict[tuple[int, int], tuple] = {}
    for a, b in ((left, right), (right, left)):
        starts = [s[0] for s in b]
        by_end = sorted(b, key=_by_end)
        ends = [s[1] for s in by_end]
        reach = max((s[1] - s[0] for s in b), default=0)
        for item in a:
            first, last = item[0], item[1]
            best = None
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
                    out[key] = (item, best)
    return out


_leaf_order = itemgetter(1, 2)


def _leaf_explain(leaf: Leaf, label: str, hits: _Hits) -> _Explain:
    """The explainer of a leaf: its label as a clause and its first few occurrences as evidence."""
    if len(leaf.pattern) == 1:  # a word or a wildcard: character spans found directly
        token, prefix = leaf.pattern[0]
        name = marker(token, prefix)

        def explain_word(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                         clauses: list[str] | None) -> None:
            if clauses is not None:
                clauses.append(label)
            first_spans = ctx.index.first_spans
            for field in fields:
                if ctx.may_have(name, field):
                    for start, end in first_spans(field, token, EVIDENCE_PER_TERM, prefix):
                        evidence.append((field, label, start, end))
        return explain_word

    def explain_phrase(ctx: Context, fields: tuple[str, ...], evidence: list[_Place],
                       clauses: list[str] | None) -> None:
        if clauses is not None:
            clauses.append(label)
        span = ctx.index.span
        for field in fields:
            for first, last in hits(ctx, field)[:EVIDENCE_PER_TERM]:
                evidence.append((field, label, span(field, first)[0], span(field, last)[1]))
    return explain_phrase


def _evidence(index: TextIndex, field: str, spans: list[_Span]) -> Iterator[_Place]:
    """The places of the leaves of `spans`: the first EVIDENCE_PER_TERM of each label."""
    seen: dict[str, int] = {}
    span = index.span
    for _, _, leaves in spans:
        for label, first, last in leaves:
            if seen.get(label, 0) >= EVIDENCE_PER_TERM:
                continue
            seen[label] = seen.get(label, 0) + 1
            if first == last:  # one token: one span lookup
                start, end = span(field, first)
                yield field, label, start, end
            else:
                yield field, label, span(field, first)[0], span(field, last)[1]


def _narrow(fields: tuple[str, ...], name: str) -> tuple[str, ...]:
    return (name,) if name in fields or name not in DEFAULT_FIELDS else ()


_span_order = itemgetter(0, 1)


CLAUSE_CHARS = 120  # a clause printed for people is cut here: a rule's big OR groups would fill a screen


def short(label: str, limit: int = CLAUSE_CHARS) -> str:
    """`label` cut to `limit` characters, with … where it was cut."""
    return label if len(label) <= limit else label[:limit - 1].rstrip() + "…"


def failures(node: Node, index: TextIndex, ctx: Context | None = None, limit: int | None = None,
             program: Program | None = None) -> list[str]:
    """Why `node` does not match the article: the clauses that failed in the alternative that came closest
    (fewest failed clauses), first failure first; [] when it matches. A clause is an operand of an AND, a
    missing side of a NEAR, or a NEAR whose sides are both there but too far apart. One failure: a near miss.
    `ctx`: the article as a RuleSet holding this tree sees it (faster: word tests are set lookups). `limit`:
    where more than that many clauses fail, their labels are enough (near misses ask for 1: how each of two
    failing clauses failed is not needed to know the article is no near miss). `program`: that RuleSet's
    compiled tree (RuleSet.program), which reads what the RuleSet's tests already computed for `ctx`."""
    program = program if program is not None and program.node is node else _program(node)
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
    return _program(node).run(Context(index))


def matches(node: Node, index: TextIndex) -> bool:
    """evaluate(node, index).matched, without the evidence and clauses of a match."""
    ctx = Context(index)
    return _program(node).test(ctx, ctx.all_fields)


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

