"""Renders the one message model (the JSON monitor/digest.py builds) to plain text and to HTML email: jinja2
templates, autoescaped; table layout with inline styles, a light/dark palette whose pairs all keep 4.5:1.

Compiled templates are kept beside them in templates/__pycache__, as Python keeps .pyc: compiling the two
templates cost ~70 ms of every digest's start. Jinja checks each kept file against its template's source and the
Python version; the file's name also carries jinja's version and the environment's options, which change the
compiled code. Writing is best effort: where the package cannot be written, templates are compiled each time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined, select_autoescape
from jinja2.bccache import Bucket
from markupsafe import Markup, escape

from monitor.links import linkable
from monitor.text.scrub import scrub

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

# One palette; every (text, background) pair a reader meets is listed in CONTRAST_PAIRS and kept at
# WCAG AA (4.5:1) or better — tests/test_messages.py computes them.
PALETTE = {
    "page": "#f3f4f6", "card": "#ffffff", "fg": "#1a1a1a", "muted": "#4d4d4d", "link": "#0b57d0",
    "mark": "#fff0a0", "release_bg": "#e9f5ec", "release_edge": "#2e7d32", "warn_bg": "#fdecea",
    "warn_fg": "#8a1c12", "rule": "#d0d4da",
    # dark mode (prefers-color-scheme: dark)
    "d_page": "#0f1115", "d_card": "#1b1e23", "d_fg": "#ececec", "d_muted": "#c2c6cc", "d_link": "#9cc3ff",
    "d_mark": "#6b5600", "d_mark_fg": "#ffffff", "d_release_bg": "#12301c", "d_warn_bg": "#3b1c1a",
    "d_warn_fg": "#ffb4a9",
}
CONTRAST_PAIRS = [
    ("fg", "card"), ("muted", "card"), ("link", "card"), ("fg", "mark"), ("fg", "release_bg"),
    ("muted", "release_bg"), ("link", "release_bg"), ("warn_fg", "warn_bg"), ("fg", "warn_bg"), ("link", "warn_bg"),
    ("d_fg", "d_card"), ("d_muted", "d_card"), ("d_link", "d_card"), ("d_mark_fg", "d_mark"),
    ("d_fg", "d_release_bg"), ("d_muted", "d_release_bg"), ("d_link", "d_release_bg"), ("d_warn_fg", "d_warn_bg"),
    ("d_fg", "d_warn_bg"), ("d_link", "d_warn_bg"),
]


def one_line(text: str, limit: int = 200) -> str:
    """Collapse control characters (CR/LF included) so feed text cannot forge headers or lines."""
    flat = " ".join(_CONTROL.sub(" ", text or "").split())
    # clipping may cut off the marks that close a bidi isolate or embedding: close them again
    return flat if len(flat) <= limit else scrub(flat[: limit - 1].rstrip() + "…")


def short_url(url: str, limit: int = 70) -> str:
    """A long URL as a reader scans it: scheme dropped, the middle elided (the link and the text part keep it all)."""
    bare = re.sub(r"^https?://", "", one_line(url or "", 4000))
    return bare if len(bare) <= limit else bare[: limit * 2 // 3] + "…" + bare[-(limit // 3):]


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def new_reports(view: dict) -> int:
    """How many new reports a story of the message has: its listed URLs, or past their cap the count."""
    return view.get("new_reports_total") or len(view.get("new_reports") or ())


def highlight_spans(text: str, words: Sequence[str]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, matched) runs; a matched run is one of `words` as a whole word, so the term
    "US" marks "US" and never the "us" inside "discuss"."""
    terms = sorted({w for w in words if w and w.strip()}, key=len, reverse=True)
    if not terms:
        return [(text, False)] if text else []
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)", re.IGNORECASE)
    out, last = [], 0
    for m in pattern.finditer(text):
        if m.start() > last:
            out.append((text[last:m.start()], False))
        out.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        out.append((text[last:], False))
    return out


def highlight(text: str, words: Sequence[str]) -> Markup:
    """Escape `text` and wrap each matched whole word in <mark>; feed text never reaches HTML unescaped."""
    mark = Markup(f'<mark style="background:{PALETTE["mark"]};color:{PALETTE["fg"]};padding:0 1px">%s</mark>')
    return Markup("").join(mark % piece if hit else escape(piece) for piece, hit in highlight_spans(text, words))


def bracket(text: str, words: Sequence[str]) -> str:
    """Plain text's highlight: matched whole words in *asterisks*."""
    return "".join(f"*{piece}*" if hit else piece for piece, hit in highlight_spans(text, words))


TEMPLATE_CACHE = Path(__file__).parent / "templates" / "__pycache__"
_OPTIONS = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}


class _CompiledTemplates(FileSystemBytecodeCache):
    """jinja's file cache, written only where it can be (a failed write is a compile next time, not an error); a
    damaged file is a compile too (jinja checks the magic but then unpickles what follows as it is)."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - whatever a damaged file raises, the template is compiled instead
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            Path(self.directory).mkdir(exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _env(autoescape: bool, cache: Path | None = TEMPLATE_CACHE) -> Environment:
    """The environment of one flavour; `cache`: where compiled templates are kept (None: compiled each time)."""
    flavour = hashlib.sha256(repr((jinja2.__version__, autoescape, sorted(_OPTIONS.items()))).encode()).hexdigest()
    env = Environment(loader=PackageLoader("monitor", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(default=True, default_for_string=True) if autoescape else False,
                      bytecode_cache=_CompiledTemplates(str(cache), f"{flavour[:16]}-%s.jinja") if cache else None,
                      **_OPTIONS)
    env.filters.update(highlight=highlight, bracket=bracket, one_line=one_line, short_url=short_url)
    # linkable: the one link rule (monitor/links.py)
    env.globals.update(plural=plural, new_reports=new_reports, c=PALETTE, linkable=linkable)
    return env


_HTML = _env(True)
_TEXT = _env(False)


def _context(data: dict) -> dict:
    stories = {s["story"]: s for s in data.get("stories", [])}
    sections = [{**sec, "views": [stories[s] for s in sec["stories"] if s in stories]}
                for sec in data.get("sections", [])]
    return {"d": data, "sections": sections, "health": data["health"]["failing_feeds"],
            "rule_errors": data["health"]["rule_errors"], "shown_health": 10,
            "undelivered": data["health"].get("undelivered", [])}


def render_html(data: dict) -> str:
    return _HTML.get_template("message.html.j2").render(_context(data))


def render_text(data: dict) -> str:
    return _TEXT.get_template("message.txt.j2").render(_context(data))
