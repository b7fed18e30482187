"""The rule query language: the tree (Node), lexer and parser (text -> tree, errors with line and column),
the canonical printer (tree -> text), and the simple-lists compiler (all_of / any_of / none_of -> query).

Evaluating a tree on an article is monitor.rules.evaluate; many rules at once, monitor.rules.ruleset.
Pure: stdlib, monitor.errors and monitor.text.tokens only; no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from monitor.errors import RuleError, RuleSyntaxError
from monitor.text.tokens import tokenize

FIELDS = ("title", "text", "lead")  # scopes a query may name; unscoped words search title and text
DEFAULT_FIELDS = ("title", "text")
MAX_DISTANCE = 1000
MAX_SENTENCES = 100


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
class Except(Node):
    """The matches of `left` that have no match of `right` in the same sentence (`distance` 0) or within
    `distance` tokens: an exclusion that vetoes only the evidence it contradicts."""

    left: Node
    right: Node
    distance: int = 0


@dataclass(frozen=True, slots=True)
class Sentences(Node):
    """`child` matches in at least `count` different sentences of the title and text."""

    count: int
    child: Node


@dataclass(frozen=True, slots=True)
class Field(Node):
    """Restricts `child` to one field: title, text, or lead (the title and the text's first sentence)."""

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
_EXCEPT = re.compile(r"EXCEPT(?:/(\d+))?")
_SENTENCES = re.compile(r"(SENTENCES|ABOUT)/(\d+)")
_FIELD_PREFIX = re.compile(r"([A-Za-z]+):")
_ALIAS_NAME = re.compile(r"[\w.-]+")
_OPERATORS = {"AND", "OR", "NOT"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE ( ) AND OR NOT NEAR EXCEPT SENTENCES ALIAS FIELD END
    text: str  # as written (a phrase without its quotes)
    offset: int
    value: int = 0  # NEAR or EXCEPT distance (0: the same sentence), SENTENCES count


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
        elif word == "EXCEPT" or word.startswith("EXCEPT/"):
            yield self._except(word, at)
        elif word in ("SENTENCES", "ABOUT") or word.startswith(("SENTENCES/", "ABOUT/")):
            yield self._sentences(word, at)
        elif word.startswith("@"):
            if not _ALIAS_NAME.fullmatch(word[1:]):
                raise self.error("expected an alias name after '@', as @lukashenko", at)
            yield _Tok("ALIAS", word[1:], at)
        elif field := _FIELD_PREFIX.match(word):
            name = field.group(1).lower()
            if name not in FIELDS:
                raise self.error(f"unknown field '{name}:' (fields are title:, text: and lead:)", at)
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

    def _except(self, word: str, at: int) -> _Tok:
        m = _EXCEPT.fullmatch(word)
        if not m:
            raise self.error("EXCEPT takes an optional distance, as EXCEPT or EXCEPT/5", at)
        distance = int(m.group(1) or 0)
        if m.group(1) is not None and not 1 <= distance <= MAX_DISTANCE:
            raise self.error(f"EXCEPT distance must be between 1 and {MAX_DISTANCE}", at)
        return _Tok("EXCEPT", word, at, distance)

    def _sentences(self, word: str, at: int) -> _Tok:
        m = _SENTENCES.fullmatch(word)
        name = word.split("/")[0]
        if not m:
            raise self.error(f"{name} needs a count, as {name}/2", at)
        count = int(m.group(2))
        if not 1 <= count <= MAX_SENTENCES:
            raise self.error(f"{name} count must be between 1 and {MAX_SENTENCES}", at)
        return _Tok(name, word, at, count)


# -------------------------------------------------------------------------------------------- parser

_OPERAND_START = {"WORD", "PHRASE", "(", "ALIAS", "FIELD", "NOT", "SENTENCES", "ABOUT"}
_PRIMARY_START = {"WORD", "PHRASE", "(", "ALIAS"}


class _Parser:
    """Recursive descent; precedence NOT, SENTENCES/n, ABOUT/n > NEAR, EXCEPT > AND (explicit or implicit) > OR.

    `ABOUT/n x` is shorthand for `(lead:x OR SENTENCES/n x)`: x in the title or first sentence, or in n
    sentences."""

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
        while self.peek().kind in ("NEAR", "EXCEPT"):
            op = self.advance()
            right_start = self.peek().offset
            right = self.unary()
            self.check_near_operand(left, start, op.kind)
            self.check_near_operand(right, right_start, op.kind)
            node = Near(left, right, op.value) if op.kind == "NEAR" else Except(left, right, op.value)
            left = self.at(node, start)
        return left

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.advance()
            return self.at(Not(self.unary()), tok.offset)
        if tok.kind in ("SENTENCES", "ABOUT"):
            self.advance()
            child_start = self.peek().offset
            child = self.unary()
            self.check_near_operand(child, child_start, tok.kind)
            if _inner_field(child, ""):
                raise self.error(f"{tok.kind} counts sentences of the title and text: no field scope inside it",
                                 child_start)
            sentences = Sentences(tok.value, child)
            node = sentences if tok.kind == "SENTENCES" else Or((Field("lead", child), sentences))
            return self.at(node, tok.offset)
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
    def check_near_operand(self, node: Node, offset: int, operator: str = "NEAR") -> None:
        bad = _non_positional(node)
        if bad is not None:
            where = self.where.get(id(bad), offset)
            kind = "NOT" if isinstance(bad, Not) else "SENTENCES" if isinstance(bad, Sentences) else "AND"
            raise self.error(f"{operator} works on terms, phrases, wildcards, aliases and OR groups, not {kind}: "
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
    for child in children(node):
        found = _inner_field(child, outer)
        if found:
            return found
    return None


def children(node: Node) -> tuple[Node, ...]:
    """The operands of an AND, OR, NOT, SENTENCES, field scope, NEAR or EXCEPT (an alias's variants are
    `alternatives`)."""
    if isinstance(node, And | Or):
        return node.children
    if isinstance(node, Not | Field | Sentences):
        return (node.child,)
    if isinstance(node, Near | Except):
        return (node.left, node.right)
    return ()


def alternatives(node: Or | Alias) -> tuple[Node, ...]:
    """The alternatives of an OR, or an alias's variants."""
    return node.children if isinstance(node, Or) else node.variants


def is_positional(node: Node) -> bool:
    """Whether `node` has word positions (NEAR can measure it): no AND, NOT or SENTENCES inside."""
    return _non_positional(node) is None


def _non_positional(node: Node) -> Node | None:
    """The first AND/NOT/SENTENCES in `node` that leaves NEAR no positions to measure, or None."""
    if isinstance(node, And | Not | Sentences):
        return node
    if isinstance(node, Alias):
        return None
    for child in children(node):
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
    if isinstance(node, Field | Sentences):
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
    if isinstance(node, Near | Except):
        op = (f"NEAR/{node.distance}" if isinstance(node, Near) else
              f"EXCEPT/{node.distance}" if node.distance else "EXCEPT")
        text = f"{_fmt(node.left, _NEAR_LEVEL)} {op} {_fmt(node.right, _NOT)}"
        return _paren(text, context > _NEAR_LEVEL)
    if isinstance(node, Not):
        return _paren("NOT " + _fmt(node.child, _NOT), context > _NOT)
    if isinstance(node, Sentences):
        return _paren(f"SENTENCES/{node.count} " + _fmt(node.child, _NOT), context > _NOT)
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
    elif isinstance(node, Except):  # its right side only vetoes
        _collect_terms(node.left, out)
    elif not isinstance(node, Not):
        for child in children(node):
            _collect_terms(child, out)


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
