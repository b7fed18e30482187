"""The rule query language: parser (text -> Node tree), canonical printer, evaluator with evidence and
explanations, the simple-lists compiler, and RuleSet, which evaluates many rules on one TextIndex.

Pure: stdlib, pyahocorasick (a keyword automaton in C), monitor.errors, monitor.models and
monitor.rules.text only; no I/O.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import itemgetter

import ahocorasick

from monitor.errors import RuleError
from monitor.models import Evidence
from monitor.rules.text import TextIndex, searchable, tokenize

FIELDS = ("title", "text")
MAX_DISTANCE = 1000
EVIDENCE_PER_TERM = 3  # occurrences reported per term and field; enough to show where, cheap to compute


class RuleSyntaxError(RuleError):
    """A query that does not parse; `line` and `column` (1-based) point into the query."""


# ---------------------------------------------------------------------------------------------- tree

# A leaf compiles to a pattern: the folded tokens it must match consecutively, each flagged when it is a
# prefix (the last token of a wildcard word).
Pattern = tuple[tuple[str, bool], ...]


class Node:
    """A node of a parsed query. Trees are immutable and compare structurally."""

    __slots__ = ()


def _word_pattern(word: str) -> Pattern:
    """Tokens of one word as written; a trailing * makes its last token a prefix."""
    star = word.endswith("*")
    tokens = [t for t, _, _ in tokenize(word[:-1] if star else word)]
    return tuple((t, star and i == len(tokens) - 1) for i, t in enumerate(tokens))


def _set_pattern(node: Node, pattern: Pattern, what: str) -> None:
    if not pattern:
        raise RuleSyntaxError(f"{what} has no letters or digits to match")
    object.__setattr__(node, "pattern", pattern)


@dataclass(frozen=True, slots=True)
class Term(Node):
    """A word as written; if it folds to several tokens (covid-19) they must be consecutive."""

    text: str
    pattern: Pattern = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set_pattern(self, _word_pattern(self.text), repr(self.text))


@dataclass(frozen=True, slots=True)
class Prefix(Node):
    """A suffix wildcard `stem*`: tokens starting with the folded stem."""

    stem: str
    pattern: Pattern = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set_pattern(self, _word_pattern(self.stem + "*"), repr(self.stem + "*"))


@dataclass(frozen=True, slots=True)
class Phrase(Node):
    """An "exact phrase": consecutive tokens; a word in it may end with * (a prefix)."""

    text: str  # words separated by single spaces
    pattern: Pattern = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _set_pattern(self, tuple(p for w in self.text.split() for p in _word_pattern(w)),
                     f'"{self.text}"')


@dataclass(frozen=True, slots=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    child: Node


@dataclass(frozen=True, slots=True)
class Near(Node):
    """Some match of `left` and some of `right` at most `distance` tokens apart, in the same field."""

    left: Node
    right: Node
    distance: int


@dataclass(frozen=True, slots=True)
class Field(Node):
    """Restricts `child` to one field (title or text)."""

    name: str
    child: Node


@dataclass(frozen=True, slots=True)
class Alias(Node):
    """`@name`: an OR of the alias's variants (terms, phrases, wildcards), expanded at parse time."""

    name: str
    variants: tuple[Node, ...]


Leaf = Term | Prefix | Phrase


def and_(*children: Node) -> Node:
    """AND of `children`, flattening nested ANDs (the parser's normal form)."""
    flat = tuple(g for c in children for g in (c.children if isinstance(c, And) else (c,)))
    return flat[0] if len(flat) == 1 else And(flat)


def or_(*children: Node) -> Node:
    """OR of `children`, flattening nested ORs (the parser's normal form)."""
    flat = tuple(g for c in children for g in (c.children if isinstance(c, Or) else (c,)))
    return flat[0] if len(flat) == 1 else Or(flat)


# --------------------------------------------------------------------------------------------- lexer

_WORD = re.compile(r'[^\s()"]+')
_NEAR = re.compile(r"NEAR/(\d+)")
_FIELD_PREFIX = re.compile(r"([A-Za-z]+):")
_ALIAS_NAME = re.compile(r"[\w.-]+")
_OPERATORS = {"AND", "OR", "NOT"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE ( ) AND OR NOT NEAR ALIAS FIELD END
    text: str  # as written (a phrase without its quotes)
    offset: int
    value: int = 0  # NEAR distance


class _Lexer:
    def __init__(self, query: str):
        self.query = query
        self._line_starts = [0] + [m.end() for m in re.finditer(r"\n", query)]

    def error(self, message: str, offset: int) -> RuleSyntaxError:
        line = bisect_right(self._line_starts, offset)
        return RuleSyntaxError(message, line=line, column=offset - self._line_starts[line - 1] + 1)

    def tokens(self) -> Iterator[_Tok]:
        q, i = self.query, 0
        while i < len(q):
            c = q[i]
            if c.isspace():
                i += 1
            elif c in "()":
                yield _Tok(c, c, i)
                i += 1
            elif c == '"':
                close = q.find('"', i + 1)
                if close < 0:
                    raise self.error("unterminated phrase: missing closing '\"'", i)
                yield _Tok("PHRASE", q[i + 1:close], i)
                i = close + 1
            else:
                word = _WORD.match(q, i)
                assert word is not None  # c is neither space, paren nor quote
                yield from self._word(word.group(), i)
                i = word.end()
        yield _Tok("END", "", len(q))

    def _word(self, word: str, at: int) -> Iterator[_Tok]:
        if word in _OPERATORS:
            yield _Tok(word, word, at)
        elif word == "NEAR" or word.startswith("NEAR/"):
            yield self._near(word, at)
        elif word.startswith("@"):
            if not _ALIAS_NAME.fullmatch(word[1:]):
                raise self.error("expected an alias name after '@', as @lukashenko", at)
            yield _Tok("ALIAS", word[1:], at)
        elif field := _FIELD_PREFIX.match(word):
            name = field.group(1).lower()
            if name not in FIELDS:
                raise self.error(f"unknown field '{name}:' (fields are title: and text:)", at)
            yield _Tok("FIELD", name, at)
            if len(word) > field.end():
                yield from self._word(word[field.end():], at + field.end())
        else:
            yield _Tok("WORD", word, at)

    def _near(self, word: str, at: int) -> _Tok:
        m = _NEAR.fullmatch(word)
        if not m:
            raise self.error("NEAR needs a distance, as NEAR/10", at)
        distance = int(m.group(1))
        if not 1 <= distance <= MAX_DISTANCE:
            raise self.error(f"NEAR distance must be between 1 and {MAX_DISTANCE}", at)
        return _Tok("NEAR", word, at, distance)


# -------------------------------------------------------------------------------------------- parser

_OPERAND_START = {"WORD", "PHRASE", "(", "ALIAS", "FIELD", "NOT"}
_PRIMARY_START = {"WORD", "PHRASE", "(", "ALIAS"}


class _Parser:
    """Recursive descent; precedence NOT > NEAR > AND (explicit or implicit) > OR."""

    def __init__(self, query: str, aliases: Mapping[str, Sequence[str]]):
        self.lexer = _Lexer(query)
        self.toks = list(self.lexer.tokens())
        self.i = 0
        self.aliases = aliases
        self.where: dict[int, int] = {}  # id(node) -> offset, for errors found after building a node

    # -- helpers
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def advance(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def previous(self) -> str:
        if self.i == 0:
            return ""
        tok = self.toks[self.i - 1]
        return f'"{tok.text}"' if tok.kind == "PHRASE" else tok.text + (":" if tok.kind == "FIELD" else "")

    def error(self, message: str, offset: int) -> RuleSyntaxError:
        return self.lexer.error(message, offset)

    def at(self, node: Node, offset: int) -> Node:
        self.where.setdefault(id(node), offset)
        return node

    # -- grammar
    def query(self) -> Node:
        if self.peek().kind == "END":
            raise self.error("empty query", 0)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "END":  # only a ')' can stop the expression early
            raise self.error("unexpected ')' without a matching '('", tok.offset)
        self.check_positive(node)
        return node

    def or_expr(self) -> Node:
        start = self.peek().offset
        items = [self.and_expr()]
        while self.peek().kind == "OR":
            self.advance()
            items.append(self.and_expr())
        return self.at(or_(*items), start)

    def and_expr(self) -> Node:
        start = self.peek().offset
        items = [self.near_expr()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.advance()
            elif kind not in _OPERAND_START:
                break
            items.append(self.near_expr())
        return self.at(and_(*items), start)

    def near_expr(self) -> Node:
        start = self.peek().offset
        left = self.unary()
        while self.peek().kind == "NEAR":
            near = self.advance()
            right_start = self.peek().offset
            right = self.unary()
            self.check_near_operand(left, start)
            self.check_near_operand(right, right_start)
            left = self.at(Near(left, right, near.value), start)
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.advance()
            return self.at(Not(self.unary()), tok.offset)
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "FIELD":
            return self.field()
        if tok.kind == "(":
            return self.group()
        if tok.kind in ("WORD", "PHRASE"):
            self.advance()
            return self.at(self.leaf(tok), tok.offset)
        if tok.kind == "ALIAS":
            self.advance()
            return self.at(self.alias(tok), tok.offset)
        raise self.unexpected(tok)

    def unexpected(self, tok: _Tok) -> RuleSyntaxError:
        if tok.kind == "END":
            before = self.previous()
            return self.error("unexpected end of query" + (f" after '{before}'" if before else ""), tok.offset)
        if tok.kind == ")":
            if self.previous() == "(":
                return self.error("empty parentheses '()'", tok.offset)
            return self.error(f"expected a term, phrase or '(' before ')', after '{self.previous()}'",
                              tok.offset)
        return self.error(f"expected a term, phrase or '(' but found '{tok.text}'", tok.offset)

    def field(self) -> Node:
        tok = self.advance()
        if self.peek().kind not in _PRIMARY_START:
            nxt = self.peek()
            if nxt.kind == "END":
                raise self.error(f"unexpected end of query after '{tok.text}:'", nxt.offset)
            raise self.error(f"expected a term, phrase or '(' after '{tok.text}:'", nxt.offset)
        child = self.primary()
        other = _inner_field(child, tok.text)
        if other:
            raise self.error(f"{other}: inside {tok.text}: can never match", tok.offset)
        return self.at(Field(tok.text, child), tok.offset)

    def group(self) -> Node:
        self.advance()
        if self.peek().kind == ")":
            raise self.error("empty parentheses '()'", self.peek().offset)
        inner = self.or_expr()
        tok = self.peek()
        if tok.kind != ")":
            raise self.error(f"expected ')' after '{self.previous()}'", tok.offset)
        self.advance()
        return inner

    def leaf(self, tok: _Tok) -> Node:
        try:
            return _leaf(tok.text, phrase=tok.kind == "PHRASE")
        except RuleError as exc:
            raise self.error(exc.message, tok.offset) from None

    def alias(self, tok: _Tok) -> Node:
        name = tok.text
        variants = self.aliases.get(name)
        if variants is None:
            folded = {k.casefold(): v for k, v in self.aliases.items()}
            variants = folded.get(name.casefold())
        if variants is None:
            raise self.error(f"unknown alias @{name}", tok.offset)
        if isinstance(variants, str) or not variants:
            raise self.error(f"alias @{name} needs a list of variants", tok.offset)
        nodes = []
        for v in variants:
            try:
                nodes.append(parse_variant(v))
            except RuleError as exc:
                raise self.error(f"alias @{name}: variant {v!r}: {exc.message}", tok.offset) from None
        return Alias(name, tuple(nodes))

    # -- checks
    def check_near_operand(self, node: Node, offset: int) -> None:
        bad = _non_positional(node)
        if bad is not None:
            where = self.where.get(id(bad), offset)
            kind = "NOT" if isinstance(bad, Not) else "AND"
            raise self.error(f"NEAR works on terms, phrases, wildcards, aliases and OR groups, not {kind}: "
                             f"'{to_string(bad)}'", where)

    def check_positive(self, root: Node) -> None:
        bad = _negative_part(root)
        if bad is None:
            return
        where = self.where.get(id(bad), 0)
        if bad is root or (isinstance(root, And | Field)):
            raise self.error("a query cannot be only NOT: say what to match too, as 'x AND NOT y'", where)
        raise self.error(f"'{to_string(bad)}' only excludes, so OR-ing it would match almost every "
                         "article; use 'x AND NOT y'", where)


def _inner_field(node: Node, outer: str) -> str | None:
    """The name of a field scope inside `node` that differs from `outer`, if any."""
    if isinstance(node, Field):
        return node.name if node.name != outer else _inner_field(node.child, outer)
    for child in _children(node):
        found = _inner_field(child, outer)
        if found:
            return found
    return None


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Not | Field):
        return (node.child,)
    if isinstance(node, Near):
        return (node.left, node.right)
    return ()


def _non_positional(node: Node) -> Node | None:
    """The first AND/NOT in `node` that leaves NEAR no positions to measure, or None."""
    if isinstance(node, And | Not):
        return node
    if isinstance(node, Alias):
        return None
    for child in _children(node):
        bad = _non_positional(child)
        if bad is not None:
            return bad
    return None


def _negative_part(node: Node) -> Node | None:
    """A part that can only exclude and so leaves `node` unable to match on its own merit, or None."""
    if isinstance(node, Not):
        return _negative_part(node.child.child) if isinstance(node.child, Not) else node
    if isinstance(node, And):
        parts = [_negative_part(c) for c in node.children]
        return None if any(p is None for p in parts) else parts[0]
    if isinstance(node, Or):
        return next((p for p in map(_negative_part, node.children) if p is not None), None)
    if isinstance(node, Field):
        return _negative_part(node.child)
    return None


def _check_word(word: str) -> None:
    if "*" in word[:-1]:
        raise RuleSyntaxError(f"a wildcard * may only end a word, as prisoner* (in '{word}')")


def _leaf(text: str, *, phrase: bool) -> Leaf:
    """A Term, Prefix or Phrase from its text as written (a phrase without its quotes)."""
    if phrase:
        words = text.split()
        if not words:
            raise RuleSyntaxError('empty phrase ""')
        for w in words:
            _check_word(w)
            if w.endswith("*") and not _word_pattern(w):
                raise RuleSyntaxError(f"'*' needs letters or digits before it (in '{w}')")
        return Phrase(" ".join(words))
    _check_word(text)
    if text.startswith("-") and len(text) > 1 and text[1].isalnum():
        raise RuleSyntaxError(f"to exclude a word write NOT {text[1:]}, not {text}")
    if text.endswith("*"):
        if not _word_pattern(text):
            raise RuleSyntaxError(f"'*' needs letters or digits before it (in '{text}')")
        return Prefix(text[:-1])
    return Term(text)


def parse_variant(variant: str) -> Leaf:
    """One alias variant or list term: a word, a wildcard, or a phrase (quoted, or containing spaces)."""
    if not isinstance(variant, str):
        raise RuleSyntaxError(f"expected a string, got {type(variant).__name__}")
    text = variant.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '"' not in text[1:-1]:
        return _leaf(text[1:-1], phrase=True)
    if '"' in text:  # a quote inside a term is punctuation, which matching ignores anyway
        text = " ".join(text.replace('"', " ").split())
        return _leaf(text, phrase=True)
    if not text:
        raise RuleSyntaxError("empty variant")
    return _leaf(text, phrase=any(c.isspace() or c in "()" for c in text))


def parse(query: str, aliases: Mapping[str, Sequence[str]] | None = None) -> Node:
    """Parse a query into a tree; RuleError (RuleSyntaxError) with line and column when it is invalid."""
    if not isinstance(query, str):
        raise RuleSyntaxError(f"a query must be a string, not {type(query).__name__}")
    return _Parser(query, aliases or {}).query()


# ------------------------------------------------------------------------------------------- printer

_OR, _AND, _NEAR_LEVEL, _NOT, _ATOM = 1, 2, 3, 4, 5


def to_string(node: Node) -> str:
    """The canonical text of a tree: explicit AND, minimal parentheses; parse(to_string(t)) == t."""
    return _fmt(node, _OR)


def _fmt(node: Node, context: int) -> str:
    if isinstance(node, Term):
        return node.text
    if isinstance(node, Prefix):
        return node.stem + "*"
    if isinstance(node, Phrase):
        return f'"{node.text}"'
    if isinstance(node, Alias):
        return "@" + node.name
    if isinstance(node, Or):
        return _paren(" OR ".join(_fmt(c, _AND) for c in node.children), context > _OR)
    if isinstance(node, And):
        return _paren(" AND ".join(_fmt(c, _NEAR_LEVEL) for c in node.children), context > _AND)
    if isinstance(node, Near):
        text = f"{_fmt(node.left, _NEAR_LEVEL)} NEAR/{node.distance} {_fmt(node.right, _NOT)}"
        return _paren(text, context > _NEAR_LEVEL)
    if isinstance(node, Not):
        return _paren("NOT " + _fmt(node.child, _NOT), context > _NOT)
    if isinstance(node, Field):
        return f"{node.name}:{_fmt(node.child, _ATOM)}"
    raise TypeError(f"not a query node: {node!r}")


def _paren(text: str, needed: bool) -> str:
    return f"({text})" if needed else text


def terms(node: Node) -> list[str]:
    """Every positive term, phrase and wildcard in the tree (none under NOT), as printed; for prefilters."""
    out: dict[str, None] = {}
    _collect_terms(node, out)
    return list(out)


def _collect_terms(node: Node, out: dict[str, None]) -> None:
    if isinstance(node, Term | Prefix | Phrase):
        out[_fmt(node, _ATOM)] = None
    elif isinstance(node, Alias):
        for v in node.variants:
            _collect_terms(v, out)
    elif not isinstance(node, Not):
        for child in _children(node):
            _collect_terms(child, out)


# ----------------------------------------------------------------------------------------- evaluator

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


class _Context:
    """One article as the compiled tests see it.

    `found` (from a RuleSet) holds the rule words found in the default fields and the markers "stem*" of
    the wildcard stems their words start with: it answers the default scope's single-word tests and lets
    the others skip words that are absent; `found_in` holds the markers of single fields where the
    RuleSet kept them apart (the short ones, as the title). Without them the index's vocabularies answer."""

    __slots__ = ("all_fields", "found", "found_in", "index", "vocabularies")

    def __init__(self, index: TextIndex, found: AbstractSet[str] | None = None,
                 found_in: Mapping[str, AbstractSet[str]] | None = None):
        self.index = index
        self.found = found
        self.found_in = found_in or {}
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
        return self.may_have(stem + "*", field) and self.index.has_prefix(stem, field)


def default_fields(index: TextIndex) -> tuple[str, ...]:
    """The fields an unscoped query term searches: title and text, or all the article has if neither."""
    return tuple(f for f in index.fields if f in FIELDS) or index.fields


_Test = Callable[[_Context, tuple[str, ...]], bool]
_Hits = Callable[[_Context, str], list[_Hit]]
_Points = Callable[[_Context, str], list[int]]
# Collects the evidence and (unless None) the satisfied clauses of a node that matched.
_Explain = Callable[[_Context, tuple[str, ...], list[_Place], list[str] | None], None]


class _Program:
    """A tree compiled once into closures, one truth test per node (kept by node id for explanations).

    Tests answer from the vocabulary where they can; positions are read only for phrases and NEAR.
    """

    def __init__(self, node: Node):
        self.node = node
        self.tests: dict[int, _Test] = {}
        self.labels: dict[tuple[int, int], str] = {}  # (node id, context) -> _fmt text, for explanations
        self.test = self._compile(node)
        self._explain_walk: _Explain | None = None  # compiled on the first match

    def _compile_explain(self, node: Node) -> _Explain:
        """The explainer's walk of `node`, compiled into closures: node types and labels are resolved
        once per rule, not at every match. Each collects the node's evidence and, unless `clauses` is
        None, its satisfied clauses."""
        if isinstance(node, And):
            parts = tuple(map(self._compile_explain, node.children))

            def explain_and(ctx: _Context, fields: tuple[str, ...], evidence: list[_Place],
                            clauses: list[str] | None) -> None:
                for part in parts:
                    part(ctx, fields, evidence, clauses)
            return explain_and
        if isinstance(node, Or | Alias):
            alternatives = tuple((self.tests[id(c)], self._compile_explain(c)) for c in _alternatives(node))
            alias = self.label(node, _OR) if isinstance(node, Alias) else None
            words = _single_words(node)
            # For an OR of single words on the default fields, the markers found say which alternatives hold.
            markers = tuple(t + "*" if prefix else t for t, prefix in words) if words is not None else None

            def explain_or(ctx: _Context, fields: tuple[str, ...], evidence: list[_Place],
                           clauses: list[str] | None) -> None:
                if alias is not None and clauses is not None:
                    clauses.append(alias)
                    clauses = None  # the alias is the clause, not the variant that matched
                found = ctx.found
                if markers is not None and found is not None and fields is ctx.all_fields:
                    for marker, (_, part) in zip(markers, alternatives, strict=True):
                        if marker in found:
                            part(ctx, fields, evidence, clauses)
                    return
                for test, part in alternatives:
                    if test(ctx, fields):
                        part(ctx, fields, evidence, clauses)
            return explain_or
        if isinstance(node, Not | Near):
            label = self.label(node, _OR)
            near = node if isinstance(node, Near) else None

            def explain_clause(ctx: _Context, fields: tuple[str, ...], evidence: list[_Place],
                               clauses: list[str] | None) -> None:
                if clauses is not None:
                    clauses.append(label)
                if near is not None:  # NEAR: the evidence is the pairs that are near each other
                    explainer = _Explainer(self, ctx)
                    for field in fields:
                        evidence.extend(explainer._evidence(field, explainer.spans(near, field)))
            return explain_clause
        if isinstance(node, Field):
            inner_walk, name = self._compile_explain(node.child), node.name
            positional, label = _positional(node.child), self.label(node, _OR)

            def explain_field(ctx: _Context, fields: tuple[str, ...], evidence: list[_Place],
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
            return _leaf_explain(self, node, self.label(node, _ATOM))
        raise TypeError(f"not a query node: {node!r}")

    def label(self, node: Node, context: int) -> str:
        """`_fmt(node, context)` of a node of this tree, formatted once."""
        key = (id(node), context)
        text = self.labels.get(key)
        if text is None:
            text = self.labels[key] = _fmt(node, context)
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
            test = _any_of(tuple(map(self._compile, _alternatives(node))))
            words = _single_words(node)
            if words is None:
                return test
            markers = frozenset(token + "*" if prefix else token for token, prefix in words)

            def test_words(ctx: _Context, fields: tuple[str, ...]) -> bool:
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
            return lambda ctx, fields: name in fields and inner(ctx, (name,))
        if isinstance(node, Near):
            self._compile(node.left)
            self._compile(node.right)
            return _near_test(node)
        raise TypeError(f"not a query node: {node!r}")

    def run(self, ctx: _Context) -> Match:
        return self.explain(ctx) if self.test(ctx, ctx.all_fields) else NO_MATCH

    def explain(self, ctx: _Context) -> Match:
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
    def test(ctx: _Context, fields: tuple[str, ...]) -> bool:
        for part in parts:  # noqa: SIM110 - a plain loop is ~2x faster than all(<genexpr>) here
            if not part(ctx, fields):
                return False
        return True
    return test


def _any_of(parts: tuple[_Test, ...]) -> _Test:
    def test(ctx: _Context, fields: tuple[str, ...]) -> bool:
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
        marker = token + "*"

        def test_prefix(ctx: _Context, fields: tuple[str, ...]) -> bool:
            if fields is ctx.all_fields and ctx.found is not None:
                return marker in ctx.found
            for f in fields:  # noqa: SIM110 - hot path, see _all_of
                if ctx.has_prefix(f, token):
                    return True
            return False
        return test_prefix

    def test_token(ctx: _Context, fields: tuple[str, ...]) -> bool:
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
        def test_points(ctx: _Context, fields: tuple[str, ...]) -> bool:
            for f in fields:  # noqa: SIM110 - hot path, see _all_of
                if _near_points(left_points(ctx, f), right_points(ctx, f), distance):
                    return True
            return False
        return test_points
    left, right = _hits_of(node.left), _hits_of(node.right)

    def test_hits(ctx: _Context, fields: tuple[str, ...]) -> bool:
        for f in fields:  # noqa: SIM110 - as above
            if _near_exists(left(ctx, f), right(ctx, f), distance):
                return True
        return False
    return test_hits


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
            keyed = tuple((token + "*" if prefix else token, token, prefix) for token, prefix in words)

            def words_points(ctx: _Context, field: str) -> list[int]:
                # An OR of single words: the positions of those found, merged.
                positions, found = ctx.index.positions, ctx.found_in.get(field, ctx.found)
                lists = [hits for marker, token, prefix in keyed
                         if (found is None or marker in found) and (hits := positions(field, token, prefix))]
                if len(lists) > 1:
                    return sorted(itertools.chain.from_iterable(lists))
                return lists[0] if lists else _NO_POSITIONS  # one list, already sorted (never modified)
            return words_points
        parts = [_points_of(c) for c in _alternatives(node)]
        if not all(parts):
            return None
        points = tuple(p for p in parts if p)

        def or_points(ctx: _Context, field: str) -> list[int]:
            found = [hits for p in points if (hits := p(ctx, field))]
            if len(found) > 1:
                return sorted(itertools.chain.from_iterable(found))
            return found[0] if found else []  # one list, already sorted (callers never modify it)
        return or_points
    if isinstance(node, Field):
        inner, name = _points_of(node.child), node.name
        if inner is None:
            return None
        return lambda ctx, field: inner(ctx, field) if field == name else []
    return None


def _single_words(node: Or | Alias) -> tuple[tuple[str, bool], ...] | None:
    """The (token, is a stem) of an OR or alias whose alternatives are all one-token words or wildcards."""
    alternatives = _alternatives(node)
    if all(isinstance(c, Term | Prefix | Phrase) and len(c.pattern) == 1 for c in alternatives):
        return tuple(c.pattern[0] for c in alternatives)
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
        parts = tuple(map(_hits_of, _alternatives(node)))
        return lambda ctx, field: sorted(itertools.chain.from_iterable(p(ctx, field) for p in parts))
    if isinstance(node, Field):
        inner, name = _hits_of(node.child), node.name
        return lambda ctx, field: inner(ctx, field) if field == name else []
    if isinstance(node, Near):
        left, right, distance = _hits_of(node.left), _hits_of(node.right), node.distance
        return lambda ctx, field: [(s, e) for s, e, _ in _near(
            [(*h, ()) for h in left(ctx, field)], [(*h, ()) for h in right(ctx, field)], distance)]
    return lambda ctx, field: []  # AND / NOT have no positions; the parser keeps them out of NEAR


def _pairs(positions: list[int]) -> list[_Hit]:
    return list(zip(positions, positions, strict=True))


def _leaf_spans(ctx: _Context, leaf: Leaf, field: str, label: str) -> list[_Span]:
    """Every match of a leaf's token pattern in `field`, as spans labelled with `label`."""
    pattern = leaf.pattern
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


def _token_positions(ctx: _Context, field: str, part: tuple[str, bool]) -> list[int]:
    token, prefix = part
    if not prefix:
        return ctx.index.positions(field, token) if ctx.may_have(token, field) else _NO_POSITIONS
    return ctx.index.positions(field, token, True) if ctx.may_have(token + "*", field) else _NO_POSITIONS


def _near_exists(left: list[_Hit], right: list[_Hit], distance: int) -> bool:
    """Whether a left and a right hit that do not overlap are at most `distance` tokens apart."""
    if not left or not right:
        return False
    if len(left) > len(right):  # symmetric: loop over the shorter side, bisect the longer
        left, right = right, left
    starts = list(map(_by_start, right))
    ends = sorted(map(_by_end, right))
    for first, last in left:
        i = bisect_right(starts, last)  # first right hit starting after this one ends
        if i < len(starts) and starts[i] - last <= distance:
            return True
        j = bisect_left(ends, first) - 1  # last right hit ending before this one starts
        if j >= 0 and first - ends[j] <= distance:
            return True
    return False


def _near(left: list[_Span], right: list[_Span], distance: int) -> list[_Span]:
    """Spans joining each side's span with its nearest non-overlapping partner within `distance`.

    Distance counts token steps between the facing ends (adjacent words are 1 apart); bisect keeps this
    O((L + R) log R). For a NEAR that is itself an operand of NEAR, each span pairs with its nearest
    partner only.
    """
    out: dict[tuple[int, int], _Leaves] = {}
    for a, b in ((left, right), (right, left)):
        starts = [s[0] for s in b]
        by_end = sorted(b, key=_by_end)
        ends = [s[1] for s in by_end]
        for first, last, leaves in a:
            best: _Span | None = None
            i = bisect_right(starts, last)
            if i < len(b) and b[i][0] - last <= distance:
                best = b[i]
            j = bisect_left(ends, first) - 1
            if j >= 0 and first - ends[j] <= distance and (best is None or first - ends[j] < best[0] - last):
                best = by_end[j]
            if best is not None:
                key = (min(first, best[0]), max(last, best[1]))
                if key not in out:
                    out[key] = leaves + best[2] if best[0] > last else best[2] + leaves
    return [(s, e, leaves) for (s, e), leaves in sorted(out.items())]


def _leaf_explain(program: _Program, leaf: Leaf, label: str) -> _Explain:
    """The explainer of a leaf: its label as a clause and its first few occurrences as evidence."""
    if len(leaf.pattern) == 1 and not leaf.pattern[0][1]:
        token = leaf.pattern[0][0]

        def explain_token(ctx: _Context, fields: tuple[str, ...], evidence: list[_Place],
                          clauses: list[str] | None) -> None:
            if clauses is not None:
                clauses.append(label)
            first_spans = ctx.index.first_spans
            for field in fields:
                if ctx.may_have(token, field):
                    for start, end in first_spans(field, token, EVIDENCE_PER_TERM):
                        evidence.append((field, label, start, end))
        return explain_token

    def explain_leaf(ctx: _Context, fields: tuple[str, ...], evidence: list[_Place],
                     clauses: list[str] | None) -> None:
        if clauses is not None:
            clauses.append(label)
        explainer = _Explainer(program, ctx)
        for field in fields:
            evidence.extend(explainer._leaf_evidence(leaf, field, label))
    return explain_leaf


class _Explainer:
    """Evidence of the leaves and NEARs of a tree that matched; runs only for the few rules that do."""

    def __init__(self, program: _Program, ctx: _Context):
        self.program = program
        self.ctx = ctx
        self.index = ctx.index

    def _leaf_evidence(self, leaf: Leaf, field: str, label: str) -> Iterator[_Place]:
        """The first few occurrences of a leaf, without listing every occurrence of a wildcard."""
        index = self.index
        if len(leaf.pattern) == 1:  # a word or a wildcard: character spans found directly
            token, prefix = leaf.pattern[0]
            if not self.ctx.may_have(token + "*" if prefix else token, field):
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
            return _leaf_spans(self.ctx, node, field, self.program.label(node, _ATOM))
        if isinstance(node, Or | Alias):
            return sorted((s for c in _alternatives(node) for s in self.spans(c, field)), key=_span_order)
        if isinstance(node, Field):
            return self.spans(node.child, field) if node.name == field else []
        if isinstance(node, Near):
            left = self.spans(node.left, field)
            right = self.spans(node.right, field)
            return _near(left, right, node.distance) if left and right else []
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


def _positional(node: Node) -> bool:
    return _non_positional(node) is None


def _alternatives(node: Or | Alias) -> tuple[Node, ...]:
    return node.children if isinstance(node, Or) else node.variants


def _narrow(fields: tuple[str, ...], name: str) -> tuple[str, ...]:
    return (name,) if name in fields else ()


_span_order = itemgetter(0, 1)


def evaluate(node: Node, index: TextIndex) -> Match:
    """Whether `node` matches the indexed article, with evidence offsets and the satisfied clauses."""
    return _Program(node).run(_Context(index))


def explain(match: Match, index: TextIndex) -> str:
    """One line saying why: the satisfied clauses, the matched terms, the field, and the sentence of the
    first evidence with every matched word in it [bracketed]."""
    if not match.matched:
        return "no match"
    why = "; ".join(match.clauses) or "matched"
    if not match.evidence:
        return why
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
    lead = "…" if cut_left else ""
    tail = "…" if cut_right else ""
    names = ", ".join(dict.fromkeys(e.term for e in match.evidence))
    return f'{why} — terms {names} — {first.field}: "{lead}{sentence}{tail}"'


_SENTENCE_BREAK = re.compile(r"[.!?…](?=\s)|\n")
_REACH = 200  # characters looked at either side of the evidence


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int, bool, bool]:
    """(left, right, cut on the left, cut on the right) of the sentence around start..end."""
    lo = max(0, start - _REACH)
    breaks = [m.end() for m in _SENTENCE_BREAK.finditer(text, lo, start)]
    left = breaks[-1] if breaks else lo
    hi = min(len(text), end + _REACH)
    after = _SENTENCE_BREAK.search(text, end, hi)
    right = after.end() if after else hi
    cut_left = not breaks and lo > 0
    while left < start and text[left].isspace():
        left += 1
    return left, right, cut_left, not after and hi < len(text)


# ----------------------------------------------------------------------------------------- lists

def compile_lists(all_of: Sequence[str | Sequence[str]] | None = None, any_of: Sequence[str] | None = None,
                  none_of: Sequence[str] | None = None) -> str:
    """Turn the simple list format into a query: (a1) AND (g1 OR g2) AND (any1 OR any2) AND NOT (n1 OR n2).

    `all_of` items are terms or lists of terms (any-of groups); terms are written as in the language:
    a string with a space is a phrase, a trailing * a wildcard, @name an alias.
    """
    groups = [[item] if isinstance(item, str) else list(item) for item in (all_of or [])]
    if any_of:
        groups.append(list(any_of))
    if not groups or not all(groups):
        raise RuleSyntaxError("all_of or any_of needs at least one term")
    parts = ["(" + " OR ".join(map(quote_term, g)) + ")" for g in groups]
    if none_of:
        parts.append("NOT (" + " OR ".join(map(quote_term, none_of)) + ")")
    return " AND ".join(parts)


def quote_term(term: str) -> str:
    """The query text for one list term: a word or wildcard as is, anything else as a quoted phrase."""
    if not isinstance(term, str):
        raise RuleSyntaxError(f"a term must be a string, not {type(term).__name__}")
    text = term.strip()
    if text.startswith("@") and _ALIAS_NAME.fullmatch(text[1:]):
        return text
    scope = _FIELD_PREFIX.match(text)
    if scope and scope.group(1).lower() in FIELDS and len(text) > scope.end():
        return scope.group(1).lower() + ":" + quote_term(text[scope.end():])
    leaf = parse_variant(text)
    printed = _fmt(leaf, _ATOM)
    if isinstance(leaf, Phrase) or _reads_as_leaf(printed, leaf):
        return printed
    return f'"{printed}"'


def _reads_as_leaf(printed: str, leaf: Leaf) -> bool:
    try:
        return parse(printed) == leaf
    except RuleError:
        return False


# --------------------------------------------------------------------------------------------- RuleSet

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
        needs = [n for c in _alternatives(node) if (n := _requirements(c, scope))]
        if len(needs) < len(_alternatives(node)):
            return None  # an alternative that needs nothing makes the whole OR need nothing
        # (a1 AND a2) OR (b1 AND b2) implies (a1 OR b1) AND (a1 OR b2) AND ...: keep every combination
        # while they are few, else only the union of each alternative's most selective clause.
        combos = 1
        for n in needs:
            combos *= len(n)
        if combos <= _MAX_COMBINATIONS:
            return [_union(picks) for picks in itertools.product(*needs)]
        return [_union([min(n, key=_clause_cost) for n in needs])]
    if isinstance(node, And | Near):
        found = [n for c in _children(node) if (n := _requirements(c, scope))]
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


def _check(clause: _Clause) -> _Check:
    exact, stems = clause
    by_scope: dict[str, set[str]] = {}
    for tagged in (*exact, *(s + "*" for s in stems)):
        scope, _, marker = tagged.rpartition(_SCOPE)
        by_scope.setdefault(scope, set()).add(marker)
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
        for child in _children(node):
            yield from _parts_of(child)


_value = itemgetter(1)


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
        self._programs = [_Program(node) for node in rules.values()]
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
            exact, stems = clauses[0]
            for tagged in (*exact, *(s + "*" for s in stems)):
                triggered_by.setdefault(tagged.rpartition(_SCOPE)[2], []).append(i)
        self._triggered_by = {marker: tuple(rules) for marker, rules in triggered_by.items()}
        parts = dict.fromkeys(itertools.chain.from_iterable(map(_parts_of, rules.values())))
        # Markers: a rule word stands for itself, a wildcard stem for "stem*" (tokens never hold "*").
        self._markers = {(t, prefix): t + "*" if prefix else t for t, prefix in parts}
        self._automaton = self._build_automaton()

    def __len__(self) -> int:
        return len(self.names)

    def _build_automaton(self) -> ahocorasick.Automaton | None:
        """One keyword automaton for every field: " word " and " stem" keys, each valued with its marker;
        None when the rules have no words at all."""
        if not self._markers:
            return None
        automaton = ahocorasick.Automaton()
        for (token, prefix), marker in self._markers.items():
            automaton.add_word(f" {searchable(token)}" if prefix else f" {searchable(token)} ", marker)
        automaton.make_automaton()
        return automaton

    def present(self, index: TextIndex) -> set[str]:
        """The markers of the rule words in the article's default fields (title and text) and of the rule
        stems their words start with: one pass of the automaton over each field's search text."""
        return self._scan(index)[0]

    def _scan(self, index: TextIndex) -> tuple[set[str], dict[str, set[str]]]:
        """(the markers of all default fields, the markers of each but the longest field)."""
        by_field = {}
        if self._automaton is not None:
            for field in default_fields(index):
                by_field[field] = set(map(_value, self._automaton.iter(index.search_text(field))))
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
            markers = known[field] = set()
            if self._automaton is not None:
                markers.update(map(_value, self._automaton.iter(index.search_text(field))))
        return markers

    def candidates(self, index: TextIndex, found: AbstractSet[str] | None = None,
                   found_in: Mapping[str, AbstractSet[str]] | None = None) -> list[int]:
        """Indexes of the rules whose necessary words all occur in the article (`found`: its `present`;
        `found_in`: markers of single fields already known)."""
        if found is None:
            found, found_in = self._scan(index)
        triggered = set().union(*filter(None, map(self._triggered_by.get, found)))
        out = list(self._always)
        checks = self._checks
        in_field = dict(found_in or {})  # markers of single fields, for clauses with scopes
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

    def matching(self, index: TextIndex) -> list[str]:
        """Names of the rules that match the article, in rule order; no evidence is computed."""
        found, found_in = self._scan(index)
        ctx = _Context(index, found, found_in)
        programs, fields = self._programs, ctx.all_fields
        return [self.names[i] for i in self.candidates(index, found, found_in) if programs[i].test(ctx, fields)]

    def explain(self, name: str, index: TextIndex) -> Match:
        """The Match of rule `name` on the article, with evidence and clauses (as `evaluate` gives it)."""
        return self._programs[self._numbers[name]].run(_Context(index))

    def match_all(self, index: TextIndex) -> dict[str, Match]:
        """The rules that match the article, by name (in rule order), each with its Match."""
        found, found_in = self._scan(index)
        ctx = _Context(index, found, found_in)
        fields = ctx.all_fields
        out = {}
        for i in self.candidates(index, found, found_in):
            program = self._programs[i]
            if program.test(ctx, fields):
                out[self.names[i]] = program.explain(ctx)
        return out
