"""Matches one article against every rule: index the title and text once, evaluate the RuleSet on
that index, and turn each match into a Hit with its evidence, a why-line and a snippet. Pure.
"""

from __future__ import annotations

import re
from dataclasses import replace

from monitor.models import Evidence, Hit
from monitor.rules.book import RuleBook
from monitor.rules.evaluate import Match, explain, first_sentence_end, matches
from monitor.text.sentences import SENTENCE_BREAK
from monitor.text.tokens import TextIndex

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
    end = first_sentence_end(chunk)
    first = chunk[:end] if end is not None else chunk
    if len(first) == LEAD_CHARS and " " in first:
        first = first[:first.rindex(" ")]
    words, at = headline
    pieces = ((0, "title" if words is title else "text", at, len(words)), (len(words) + 1, "text", start, len(first)))
    return f"{words}\n{first}", pieces


def _first_line(text: str, start: int) -> int:
    """Where the first line of four words or more (or the last line) begins, from `start`: shorter lines
    before others are template ("World"; as for monitor.text.sentences.clean_text)."""
    for line in _LINE.finditer(text, start):
        # (the rest of the text is searched for a non-space, not copied and stripped: that was quadratic in
        # the number of short lines)
        if len(line.group().split()) >= _LEAD_LINE_WORDS or _NON_SPACE.search(text, line.end()) is None:
            return line.start() + len(line.group()) - len(line.group().lstrip())
    return len(text)


_LINE = re.compile(r"[^\n]+")
_NON_SPACE = re.compile(r"\S")  # \s is str.isspace(), as str.strip() uses
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


def match_article(book: RuleBook, title: str, text: str) -> list[Hit]:
    """Every rule of `book` that matches; only the title and the extracted text are ever seen."""
    index = index_article(title, text)
    hits = []
    for name, match in book.ruleset.match_all(index).items():
        if not match.matched:
            continue
        match = in_title_and_text(match, title, text)
        rule = book.get(name)
        alert = rule is not None and rule.alert == "immediate" and (
            rule.alert_when is None or matches(rule.alert_when, index))
        hits.append(Hit(rule=name, evidence=match.evidence, alert=alert,
                        snippet=snippet(index, match.evidence), why=explain(match, index),
                        words=matched_words(index, match.evidence)))
    return sorted(hits, key=lambda h: h.rule)


MAX_WORDS = 8  # a digest line names the telling words, not every one


def matched_words(index: TextIndex, evidence: tuple[Evidence, ...], limit: int = MAX_WORDS) -> tuple[str, ...]:
    """The surface forms that matched, each once (case-folded), title first, then in text order."""
    words: dict[str, str] = {}
    for e in sorted(evidence, key=lambda e: (e.field != "title", e.start)):
        word = " ".join(index.text(e.field)[e.start:e.end].split())
        words.setdefault(word.casefold(), word)
        if len(words) >= limit:
            break
    return tuple(words.values())


def snippet(index: TextIndex, evidence: tuple[Evidence, ...], limit: int = SNIPPET_CHARS) -> str:
    """The sentence around the first matched word of the text (the title when the text has none)."""
    # extracted text often opens with the headline: prefer a match in the body proper
    headline = len(index.text("title")) if index.text("text").startswith(index.text("title")) else 0
    in_body = [e for e in evidence if e.field == "text" and e.start >= headline]
    in_text = in_body or [e for e in evidence if e.field == "text"]
    chosen = min(in_text or evidence, key=lambda e: e.start, default=None)
    if chosen is None:
        return ""
    source = index.text(chosen.field)
    start = _sentence_start(source, chosen.start, limit // 2)
    end = _sentence_end(source, chosen.end, start + limit)
    text = " ".join(source[start:end].split())
    prefix = "…" if start > 0 and source[start - 1] not in ".!?\n" and not source[start - 1].isspace() else ""
    return f"{prefix}{text}{'…' if end < len(source) and source[end - 1] not in '.!?…' else ''}"


def _sentence_start(text: str, at: int, reach: int) -> int:
    lower = max(0, at - reach)
    ends = [m.end() for m in SENTENCE_BREAK.finditer(text, lower, at)]
    if ends:  # after the mark's one space, or after the line break
        return ends[-1] + (text[ends[-1] - 1] != "\n")
    if lower == 0:
        return 0
    space = text.find(" ", lower, at)  # cut mid-sentence at a word boundary
    return space + 1 if space >= 0 else lower


def _sentence_end(text: str, at: int, limit: int) -> int:
    match = SENTENCE_BREAK.search(text, at, max(at, limit))
    if match:
        return match.start() + 1
    if limit >= len(text):
        return len(text)
    space = text.rfind(" ", at, limit)
    return space if space > at else limit
