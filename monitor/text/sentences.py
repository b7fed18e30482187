"""Sentences and the parts of an article's text: template lines dropped (`clean_text`), the one sentence
splitter (`sentences`, `split_lead`), and the per-article index of title, lead and body (`article_index`).

Pure: stdlib and monitor.text only.
"""

from __future__ import annotations

import re

from monitor.text.tokens import TextIndex

# A period that ends no sentence: after these abbreviations (English and Russian, as news writes them), after a
# single capital letter (initials, and so U.S., U.K., E.U.), after a single lowercase Cyrillic letter (ч. 1
# ст. 342, т.е., г.). (No guess from a lowercase next word: rule scopes treat "a x c. b" as two sentences.)
ABBREVIATIONS = (
    "Mr", "Mrs", "Ms", "Dr", "Prof", "Sen", "Rep", "Gen", "Col", "Lt", "Sgt", "Capt", "Gov", "Pres", "Rev", "St",
    "Jr", "Sr", "No", "Nos", "vs", "approx", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct",
    "Nov", "Dec", "Mt", "Ft", "e.g", "i.e", "cf", "ca", "a.m", "p.m",
    "ст", "ул", "пр", "пл", "им", "св", "тыс", "млн", "млрд", "руб", "коп", "гг", "обл", "пос", "напр", "проф",
    "акад", "ген", "см", "рис", "тел", "вул", "праф",
)
_NO_END_AFTER = "".join(f"(?<!\\b{re.escape(a)}\\.)" for a in ABBREVIATIONS) + r"(?<!\b[A-ZА-ЯЁІЎ]\.)(?<!\b[а-яёіў]\.)"
# A sentence ends at . ! ? or … (closing quotes and brackets stay with it) followed by space, or at a line break.
SENTENCE_END = re.compile(rf"(?<=[.!?…]){_NO_END_AFTER}[\"'»”’)]*\s+|\n+")
# The same boundary as rule snippets and explanations cut at: the mark itself (closing quotes stay outside,
# so a quoted sentence is not cut), or a line break. Search with an end position: the space must be inside.
SENTENCE_BREAK = re.compile(rf"(?:\.{_NO_END_AFTER}|[!?…])(?=\s)|\n")

_BOILERPLATE = re.compile(
    r"(?i)^\W*(copyright|©|all rights reserved|read (more|also|next)|related|share( this)?\b|follow us|subscribe"
    r"|source link|continue reading|читайте (также|еще|ещё)|подписывайтесь|поделиться)")


def clean_text(text: str) -> str:
    """`text` without template lines: those under four words ("Connect with us", "Trending") and
    sidebars and footers ("Read more: ...", "Copyright ..."); `text` itself when nothing else is left."""
    # (split at most 3 times: a fourth part is a fourth word, without a list of every word of a long line)
    kept = [line for line in text.splitlines()
            if len(line.split(None, 3)) == 4 and not _BOILERPLATE.match(line)]
    return "\n".join(kept) if kept else text


def sentences(text: str) -> list[str]:
    """The non-blank sentences of `text`, each without its closing quotes and the space after it (what
    SENTENCE_END.split gives, its matches found by sentence_end)."""
    out = []
    pos = 0
    while (match := sentence_end(text, pos)) is not None:
        out.append(text[pos:match.start()])
        pos = match.end()
    out.append(text[pos:])
    return [s for s in out if s and s.strip()]


_MAY_END = re.compile(r"[.!?…\n]")  # SENTENCE_END matches only right after one of these marks or at a line break


def sentence_end(text: str, pos: int = 0) -> re.Match[str] | None:
    """SENTENCE_END.search(text, pos), with SENTENCE_END tried only where it may match (its lookbehinds
    would otherwise run at every character): a fraction of the search's cost."""
    at = max(pos - 1, 0)
    while (candidate := _MAY_END.search(text, at)) is not None:
        i = candidate.start()
        start = i if text[i] == "\n" else i + 1
        if start >= pos and (found := SENTENCE_END.match(text, start)) is not None:
            return found
        at = i + 1
    return None


def split_lead(text: str, sentences: int = 2) -> tuple[str, str]:
    """(first `sentences` sentences, the rest) of `text`."""
    pos = 0
    for _ in range(sentences):
        match = sentence_end(text, pos)
        if match is None:
            return text, ""
        pos = match.end()
    return text[:pos], text[pos:]


def article_index(title: str, text: str) -> TextIndex:
    """The article as three fields: "title", "lead" (its first two sentences) and "body" (the rest)."""
    lead, body = split_lead(text)
    return TextIndex.build_parts({"title": title}, text, {"lead": lead, "body": body})
