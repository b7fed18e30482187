"""The rule query language: parser (text -> Node tree), canonical printer, evaluator with evidence and
explanations, the simple-lists compiler, and RuleSet, which evaluates many rules on one TextIndex.

Pure: stdlib, monitor.errors, monitor.models and monitor.rules.text only; no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from monitor.errors import RuleError
from monitor.models import Evidence
from monitor.rules.text import TextIndex, tokenize

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
        return node
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

# A span is (first position, last position, leaves) where leaves are (label, first, last) of the query
# terms that produced it; spans of a field are kept sorted by first position.
_Leaves = tuple[tuple[str, int, int], ...]
_Span = tuple[int, int, _Leaves]
_by_end = itemgetter(1)


class _Evaluator:
    """Evaluates one tree on one index; memoises per (node, fields) so evidence reuses the test's work."""

    def __init__(self, index: TextIndex):
        self.index = index
        self.all_fields = tuple(f for f in index.fields if f in FIELDS) or index.fields
        self._spans: dict[tuple[int, tuple[str, ...]], dict[str, list[_Span]]] = {}
        self._tests: dict[tuple[int, tuple[str, ...]], bool] = {}

    # -- truth
    def test(self, node: Node, fields: tuple[str, ...]) -> bool:
        key = (id(node), fields)
        known = self._tests.get(key)
        if known is None:
            known = self._tests[key] = self._test(node, fields)
        return known

    def _test(self, node: Node, fields: tuple[str, ...]) -> bool:
        if isinstance(node, Term | Prefix | Phrase):
            pattern = node.pattern
            if len(pattern) == 1:  # one token: the vocabulary answers without positions
                token, prefix = pattern[0]
                if prefix:
                    return any(self.index.prefixed(f, token) for f in fields)
                return any(self.index.has(f, token) for f in fields)
            return any(self.spans(node, fields).values())
        if isinstance(node, And):
            return all(self.test(c, fields) for c in node.children)
        if isinstance(node, Or):
            return any(self.test(c, fields) for c in node.children)
        if isinstance(node, Alias):
            return any(self.test(c, fields) for c in node.variants)
        if isinstance(node, Not):
            return not self.test(node.child, fields)
        if isinstance(node, Field):
            return self.test(node.child, _narrow(fields, node.name))
        if isinstance(node, Near):
            return any(self.spans(node, fields).values())
        raise TypeError(f"not a query node: {node!r}")

    # -- positions
    def spans(self, node: Node, fields: tuple[str, ...]) -> dict[str, list[_Span]]:
        key = (id(node), fields)
        found = self._spans.get(key)
        if found is None:
            found = self._spans[key] = {f: s for f in fields if (s := self._field_spans(node, f))}
        return found

    def _field_spans(self, node: Node, field: str) -> list[_Span]:
        if isinstance(node, Term | Prefix | Phrase):
            return self._leaf_spans(node, field)
        if isinstance(node, Or | Alias):
            parts = [self.spans(c, (field,)).get(field, []) for c in _alternatives(node)]
            return sorted((s for p in parts for s in p), key=_span_order)
        if isinstance(node, Field):
            return self.spans(node.child, (field,)).get(field, []) if node.name == field else []
        if isinstance(node, Near):
            left = self.spans(node.left, (field,)).get(field, [])
            right = self.spans(node.right, (field,)).get(field, [])
            return _near(left, right, node.distance) if left and right else []
        return []  # AND / NOT have no positions; the parser keeps them out of NEAR

    def _leaf_spans(self, leaf: Leaf, field: str) -> list[_Span]:
        index, pattern = self.index, leaf.pattern
        label = _fmt(leaf, _ATOM)
        starts = self._token_positions(field, pattern[0])
        if len(pattern) == 1:
            return [(p, p, ((label, p, p),)) for p in starts]
        tokens = index.tokens(field)
        last = len(tokens) - len(pattern)
        out = []
        for p in starts:
            if p <= last and all(
                    tokens[p + k].startswith(t) if prefix else tokens[p + k] == t
                    for k, (t, prefix) in enumerate(pattern[1:], 1)):
                end = p + len(pattern) - 1
                out.append((p, end, ((label, p, end),)))
        return out

    def _token_positions(self, field: str, part: tuple[str, bool]) -> list[int]:
        token, prefix = part
        if not prefix:
            return self.index.positions(field, token)
        found = [self.index.positions(field, t) for t in self.index.prefixed(field, token)]
        return found[0] if len(found) == 1 else sorted(p for ps in found for p in ps)

    # -- evidence and clauses, for a tree that matched
    def explain(self, node: Node, fields: tuple[str, ...], evidence: list[Evidence],
                clauses: list[str]) -> None:
        if isinstance(node, And):
            for c in node.children:
                self.explain(c, fields, evidence, clauses)
        elif isinstance(node, Or):
            for c in node.children:
                if self.test(c, fields):
                    self.explain(c, fields, evidence, clauses)
        elif isinstance(node, Not):
            clauses.append(_fmt(node, _OR))
        elif isinstance(node, Field) and not _positional(node.child):
            narrowed = _narrow(fields, node.name)
            inner: list[str] = []
            self.explain(node.child, narrowed, evidence, inner)
            clauses.extend(f"{node.name}:{c}" if " " not in c else f"{node.name}:({c})" for c in inner)
        else:  # positional: leaves, NEAR, alias, field over those
            clauses.append(_fmt(node, _OR))
            for field, spans in self.spans(node, fields).items():
                evidence.extend(self._evidence(field, spans))

    def _evidence(self, field: str, spans: list[_Span]) -> Iterator[Evidence]:
        seen: dict[str, int] = {}
        for _, _, leaves in spans:
            for label, first, last in leaves:
                if seen.get(label, 0) >= EVIDENCE_PER_TERM:
                    continue
                seen[label] = seen.get(label, 0) + 1
                yield Evidence(field, label, self.index.span(field, first)[0], self.index.span(field, last)[1])


def _positional(node: Node) -> bool:
    return _non_positional(node) is None


def _alternatives(node: Or | Alias) -> tuple[Node, ...]:
    return node.children if isinstance(node, Or) else node.variants


def _narrow(fields: tuple[str, ...], name: str) -> tuple[str, ...]:
    return (name,) if name in fields else ()


def _span_order(span: _Span) -> tuple[int, int]:
    return span[0], span[1]


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
            i = bisect_right(starts, last)  # first partner starting after this span
            if i < len(b) and b[i][0] - last <= distance:
                best = b[i]
            j = bisect_left(ends, first) - 1  # last partner ending before this span
            if j >= 0 and first - ends[j] <= distance and (best is None or first - ends[j] < best[0] - last):
                best = by_end[j]
            if best is not None:
                key = (min(first, best[0]), max(last, best[1]))
                if key not in out:
                    out[key] = leaves + best[2] if best[0] > last else best[2] + leaves
    return [(s, e, leaves) for (s, e), leaves in sorted(out.items())]


def evaluate(node: Node, index: TextIndex) -> Match:
    """Whether `node` matches the indexed article, with evidence offsets and the satisfied clauses."""
    ev = _Evaluator(index)
    if not ev.test(node, ev.all_fields):
        return NO_MATCH
    evidence: list[Evidence] = []
    clauses: list[str] = []
    ev.explain(node, ev.all_fields, evidence, clauses)
    order = {f: i for i, f in enumerate(index.fields)}
    unique = sorted(set(evidence), key=lambda e: (order.get(e.field, 0), e.start, e.end, e.term))
    return Match(True, tuple(unique), tuple(dict.fromkeys(clauses)))


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
_HEAD = 3  # stems are found through their first three characters


def _requirements(node: Node) -> list[_Clause] | None:
    """Necessary conditions (all clauses must hold) for `node` to match; None when there are none."""
    if isinstance(node, Term | Prefix | Phrase):
        return [(frozenset(), (t,)) if prefix else (frozenset((t,)), ()) for t, prefix in node.pattern]
    if isinstance(node, Or | Alias):
        needs = [_requirements(c) for c in _alternatives(node)]
        if any(n is None or not n for n in needs):
            return None
        picks = [min(n, key=_clause_cost) for n in needs if n]
        return [(frozenset().union(*(p[0] for p in picks)), tuple(dict.fromkeys(s for p in picks for s in p[1])))]
    if isinstance(node, And | Near):
        found = [n for c in _children(node) if (n := _requirements(c))]
        return [c for n in found for c in n] or None
    if isinstance(node, Field):
        return _requirements(node.child)
    return None  # NOT requires nothing to be present


def _clause_cost(clause: _Clause) -> tuple[int, int]:
    exact, stems = clause
    # Fewer alternatives first; stems match more words than exact tokens; longer words are rarer.
    shortest = min((len(t) for t in (*exact, *stems)), default=0)
    return len(exact) + 4 * len(stems), -shortest


class RuleSet:
    """Many named rules evaluated on one TextIndex, skipping rules whose required words are absent.

    For every rule the necessary clauses are precomputed; one selective clause per rule goes into an
    inverted index (token -> rules, stem head -> rules), so an article only looks at rules one of whose
    trigger words it contains, then checks the remaining clauses against its vocabulary before the
    full evaluation.
    """

    def __init__(self, rules: Mapping[str, Node]):
        self.names = list(rules)
        self.nodes = list(rules.values())
        self._checks: list[list[_Clause]] = []
        self._always: list[int] = []
        self._exact: dict[str, list[int]] = {}
        self._heads: dict[str, list[tuple[str, int]]] = {}
        self._short: list[tuple[str, int]] = []
        for i, node in enumerate(self.nodes):
            self._add(i, node)
        self._exact_keys = frozenset(self._exact)
        self._head_keys = frozenset(self._heads)

    def __len__(self) -> int:
        return len(self.names)

    def _add(self, i: int, node: Node) -> None:
        clauses = list(dict.fromkeys(_requirements(node) or []))
        if not clauses:
            self._always.append(i)
            self._checks.append([])
            return
        trigger = min(clauses, key=_clause_cost)
        self._checks.append([c for c in clauses if c != trigger])
        exact, stems = trigger
        for token in exact:
            self._exact.setdefault(token, []).append(i)
        for stem in stems:
            if len(stem) >= _HEAD:
                self._heads.setdefault(stem[:_HEAD], []).append((stem, i))
            else:
                self._short.append((stem, i))

    def candidates(self, index: TextIndex) -> list[int]:
        """Indexes of the rules whose necessary words all occur in the article."""
        vocab = index.vocabulary()
        found: set[int] = set(self._always)
        for token in vocab & self._exact_keys:
            found.update(self._exact[token])
        if self._heads:
            getter = itemgetter(slice(0, _HEAD))
            for head in set(map(getter, vocab)) & self._head_keys:
                found.update(i for stem, i in self._heads[head] if i not in found and index.has_prefix(stem))
        found.update(i for stem, i in self._short if i not in found and index.has_prefix(stem))
        return sorted(i for i in found if all(_holds(c, vocab, index) for c in self._checks[i]))

    def match_all(self, index: TextIndex) -> dict[str, Match]:
        """The rules that match the article, by name (in rule order), each with its Match."""
        out = {}
        for i in self.candidates(index):
            match = evaluate(self.nodes[i], index)
            if match.matched:
                out[self.names[i]] = match
        return out


def _holds(clause: _Clause, vocab: frozenset[str], index: TextIndex) -> bool:
    exact, stems = clause
    return not exact.isdisjoint(vocab) or any(index.has_prefix(s) for s in stems)
