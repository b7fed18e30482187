"""Characters no stored text may carry, removed where text enters (feeds.py, extract.py): lone surrogates
(JavaScript cutting an emoji in half writes them; SQLite and UTF-8 refuse them), NULs, and C0/C1 controls
other than tab and newline. Bidi controls stay (Arabic and Hebrew need them) but are closed per line, so an
unterminated override cannot turn the rest of a digest line around.

Pure: stdlib only.
"""

from __future__ import annotations

import re

# One search decides whether there is anything to do: most text has none of these.
_SUSPECT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NEWLINE = re.compile("\r\n?|\x85")  # CR LF, a lone CR and NEL are line breaks: one "\n"
_SPACE_LIKE = re.compile("[\x0b\x0c\x1c-\x1f]")  # vertical tab, form feed, separators: they part words
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\n]")

_EMBEDDINGS = "\u202a\u202b\u202d\u202e"  # LRE RLE LRO RLO, closed by PDF
_ISOLATES = "\u2066\u2067\u2068"  # LRI RLI FSI, closed by PDI
_PDF, _PDI = "\u202c", "\u2069"


def scrub(text: str) -> str:
    """`text` fit to store, match and show: drop_controls, then bidi embeddings closed per line."""
    if not _SUSPECT.search(text):
        return text
    return close_bidi(drop_controls(text))


def suspect(text: str) -> bool:
    """Whether `text` holds a character scrub() or flaws() looks at (one regex search): else both give it back
    untouched."""
    return _SUSPECT.search(text) is not None


def close_bidi(text: str) -> str:
    """`text` with every bidi embedding, override and isolate closed before its line ends; nothing else changed."""
    return _close_bidi(text) if any(c in text for c in _EMBEDDINGS + _ISOLATES) else text


def drop_controls(text: str) -> str:
    """Paired surrogates joined, lone ones U+FFFD, line breaks "\\n", space-like controls a space, other
    controls (NUL included) dropped. For whole documents, where closing bidi marks per line means nothing."""
    if not _SUSPECT.search(text):
        return text
    if _SURROGATE.search(text):
        text = _joined(text)
    return _CONTROL.sub("", _SPACE_LIKE.sub(" ", _NEWLINE.sub("\n", text)))


def flaws(text: str) -> tuple[str, ...]:
    """What scrub() has to repair in `text`, named for a person ("a lone surrogate", "NUL", "control
    characters"); () for text that is merely untidy (CR LF, bidi embeddings left open)."""
    if not _SUSPECT.search(text):
        return ()
    found = []
    if _SURROGATE.search(text) and _joined(text).count("\ufffd") > text.count("\ufffd"):
        found.append("a lone surrogate")
    if "\x00" in text:
        found.append("NUL")
    rest = _NEWLINE.sub("\n", text).replace("\x00", "")
    if _CONTROL.search(rest) or _SPACE_LIKE.search(rest):
        found.append("control characters")
    return tuple(found)


def _joined(text: str) -> str:
    """UTF-16 round trip: a high+low pair becomes its character, a lone half the replacement character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _close_bidi(text: str) -> str:
    """Every embedding, override and isolate closed before the line ends (UAX #9 matching rules: a PDI
    closes its isolate and whatever was opened inside it, which gets its PDFs written out so that a reader counting
    openers and closers agrees; a PDF never crosses an isolate)."""
    out: list[str] = []
    open_: list[str] = []
    last = 0
    for match in _BIDI.finditer(text):
        char = match.group()
        if char in _EMBEDDINGS or char in _ISOLATES:
            open_.append(char)
            continue
        if char == _PDF:
            if open_ and open_[-1] in _EMBEDDINGS:
                open_.pop()
            continue
        if char == _PDI:
            if any(c in _ISOLATES for c in open_):
                inside = 0  # embeddings the PDI closes implicitly: closed explicitly, for simpler readers
                while open_.pop() not in _ISOLATES:
                    inside += 1
                if inside:
                    out.append(text[last:match.start()])
                    out.append(_PDF * inside)
                    last = match.start()
            continue
        if open_:  # a line break: close what this line left open, just before it
            out.append(text[last:match.start()])
            out.append(_closers(open_))
            open_.clear()
            last = match.start()
    if not open_:
        return "".join(out) + text[last:] if out else text
    return "".join(out) + text[last:] + _closers(open_)


def _closers(open_: list[str]) -> str:
    return "".join(_PDF if c in _EMBEDDINGS else _PDI for c in reversed(open_))
