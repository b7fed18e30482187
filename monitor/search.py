"""Full-text search of stored articles, the pure part: the text the index holds (the rules' folded tokens),
a rule query translated to an SQLite FTS5 MATCH expression, and the highlighted snippet of a result.

The index holds each field as the project's folded tokens joined by spaces (monitor.text.tokens: case,
diacritics, ё→е, ł→l folded exactly as rules fold them), read by FTS5's `ascii` tokenizer, which splits
only on ASCII non-alphanumerics: so a word a rule matches is a word search finds, in every script.
Pure: stdlib, monitor.errors, monitor.rules.query and monitor.text only; the SQL is in monitor.store.
"""

from __future__ import annotations

import itertools
import re

from monitor.errors import RuleError
from monitor.rules.query import Alias, And, Except, Field, Near, Node, Not, Or, Phrase, Prefix, Sentences, Term
from monitor.text.tokens import TextIndex

COLUMNS = {"title": "title", "text": "body"}  # rule scopes -> index columns; the outlet column has no scope
SNIPPET_WIDTH = 180
_SPACES = re.compile(r"\s+")


class SearchError(RuleError):
    """A query that parses as a rule but has a part full-text search cannot express."""


def searchable(*texts: str | None) -> str:
    """The folded tokens of `texts`, joined by single spaces: what the index stores for one column.
    TextIndex's C-level passes give the canonical tokens (monitor.text.tokens.tokenize) ~15x faster."""
    return " ".join(itertools.chain.from_iterable(TextIndex.build({"t": text}).tokens("t") for text in texts if text))


def to_match(node: Node) -> str:
    """The FTS5 MATCH expression for a parsed rule query; SearchError for what FTS5 cannot say."""
    if isinstance(node, Not):
        raise SearchError("a search needs something to find, not only NOT")
    return _match(node)


def _phrase(node: Term | Prefix | Phrase) -> str:
    pattern = node.pattern
    if any(prefix for _, prefix in pattern[:-1]):
        raise SearchError(f"search can only take a * at the end of a phrase: {node!r}")
    quoted = '"' + " ".join(token for token, _ in pattern) + '"'  # folded tokens hold no quote
    return quoted + " *" if pattern[-1][1] else quoted


def _match(node: Node) -> str:
    if isinstance(node, Term | Prefix | Phrase):
        return _phrase(node)
    if isinstance(node, Alias):
        return "(" + " OR ".join(_match(v) for v in node.variants) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_match(c) for c in node.children) + ")"
    if isinstance(node, And):
        wanted = [_match(c) for c in node.children if not isinstance(c, Not)]
        unwanted = [_match(c.child) for c in node.children if isinstance(c, Not)]
        if not wanted:
            raise SearchError("a search needs something to find, not only NOT")
        found = "(" + " AND ".join(wanted) + ")"
        return f"({found} NOT ({' OR '.join(unwanted)}))" if unwanted else found
    if isinstance(node, Not):
        raise SearchError("NOT must stand beside something to find (a NOT b)")
    if isinstance(node, Near):
        pairs = [f"NEAR({left} {right}, {node.distance})"
                 for left in _phrases(node.left) for right in _phrases(node.right)]
        return "(" + " OR ".join(pairs) + ")"
    if isinstance(node, Field):
        if node.name not in COLUMNS:
            raise SearchError(f"search has no {node.name}: field (only title: and text:)")
        return f"({COLUMNS[node.name]} : {_match(node.child)})"
    if isinstance(node, Except | Sentences):
        name = "EXCEPT" if isinstance(node, Except) else "SENTENCES/ABOUT"
        raise SearchError(f"search cannot express {name}; try it on stored articles with `rules test`")
    raise SearchError(f"search cannot express {node!r}")


def _phrases(node: Node) -> list[str]:
    """NEAR in FTS5 takes phrases only: a word, a phrase, or an OR of them (each pair is tried)."""
    if isinstance(node, Term | Prefix | Phrase):
        return [_phrase(node)]
    if isinstance(node, Or | Alias):
        options = node.children if isinstance(node, Or) else node.variants
        return [p for option in options for p in _phrases(option)]
    raise SearchError("search can put only words, phrases or ORs of them on either side of NEAR")


def _wanted_tokens(node: Node, out: dict[tuple[str, bool], None]) -> None:
    """The (token, prefix) pairs of the words a query looks for (not those under NOT or after EXCEPT)."""
    if isinstance(node, Term | Prefix | Phrase):
        out.update(dict.fromkeys(node.pattern))
        return
    if isinstance(node, Alias):
        children: tuple[Node, ...] = node.variants
    elif isinstance(node, And | Or):
        children = node.children
    elif isinstance(node, Near):
        children = (node.left, node.right)
    elif isinstance(node, Except):
        children = (node.left,)
    elif isinstance(node, Field | Sentences):
        children = (node.child,)
    else:  # Not
        children = ()
    for child in children:
        _wanted_tokens(child, out)


def snippet(text: str | None, node: Node, width: int = SNIPPET_WIDTH) -> str:
    """About `width` characters of `text` around the first word the query looks for, each such word in
    [brackets]; the text's opening when none is in it (the match was in the title or the outlet)."""
    text = _SPACES.sub(" ", text or "").strip()
    tokens: dict[tuple[str, bool], None] = {}
    _wanted_tokens(node, tokens)
    index = TextIndex.build({"text": text})
    spans = sorted({span for token, prefix in tokens for span in index.first_spans("text", token, 20, prefix)})
    start = 0
    if spans and len(text) > width:
        start = max(0, spans[0][0] - width // 3)
        if start:  # from the start of a word
            start = text.rfind(" ", 0, start) + 1
    end = min(len(text), start + width)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        end = cut if cut > start else end
    out, at = [], start
    for left, right in spans:
        if left < at or right > end:
            continue
        out += [text[at:left], "[", text[left:right], "]"]
        at = right
    out.append(text[at:end])
    return ("…" if start else "") + "".join(out) + ("…" if end < len(text) else "")
