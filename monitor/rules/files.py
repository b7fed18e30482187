"""Loads and validates rules/*.yaml (one rule per file) and rules/_aliases.yaml into a RuleBook.

Errors point at the place (`rules/zapad.yaml:7:23: ...`); YAML traps are refused: duplicate keys,
anchors, booleans where a string is needed. A rule is a query in the language of query.py, or the
simple lists `all_of` / `any_of` / `none_of`, which compile into such a query.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor import yamlfile
from monitor.errors import RuleError
from monitor.rules.book import ALERT_MODES, EVENTS, Rule, RuleBook
from monitor.rules.query import Node, compile_lists, parse

ALIASES_FILE = "_aliases.yaml"
_RULE_KEYS = {"name", "description", "query", "all_of", "any_of", "none_of", "alert", "alert_when",
              "event", "examples"}
_LIST_KEYS = ("all_of", "any_of", "none_of")


def load_rulebook(rules_dir: Path) -> RuleBook:
    """Load every rule file; raise RuleError naming every invalid one."""
    if not rules_dir.is_dir():
        raise RuleError("rules directory not found", path=str(rules_dir))
    aliases = load_aliases(rules_dir / ALIASES_FILE)
    rules, problems = [], []
    for path in _rule_paths(rules_dir):
        try:
            rules.append(load_rule_file(path, aliases))
        except RuleError as exc:
            problems.append(exc)
    rules = _unique_names(rules, problems)
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise RuleError("\n".join(p.located() for p in problems))
    if not rules:
        raise RuleError("no rule files (*.yaml) found", path=str(rules_dir))
    return RuleBook(tuple(rules), aliases)


def load_aliases(path: Path) -> dict[str, list[str]]:
    """`name: [variant, ...]` lists, used in queries as @name."""
    if not path.exists():
        return {}
    data, lines = _read(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RuleError("aliases must be a mapping of name: [variants]", path=str(path), line=1)
    aliases = {}
    for name, variants in data.items():
        line = yamlfile.line_of(lines, (name,))
        if not isinstance(name, str):
            raise RuleError(f"alias name {name!r} must be a string", path=str(path), line=line)
        if not isinstance(variants, list) or not variants:
            raise RuleError(f"alias {name!r} needs a non-empty list of variants", path=str(path), line=line)
        for i, variant in enumerate(variants):
            _need_string(variant, f"variant {i + 1} of alias {name!r}", path, lines, (name, i))
            _parse_at(variant, {}, path, lines, (name, i))
        aliases[name.lower()] = list(variants)
    return aliases


def load_rule_file(path: Path, aliases: Mapping[str, Sequence[str]]) -> Rule:
    data, lines = _read(path)
    if not isinstance(data, dict):
        raise RuleError("a rule file must be a mapping (name, query, ...)", path=str(path), line=1)
    unknown = sorted(set(map(str, data)) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_RULE_KEYS))})",
                        path=str(path), line=yamlfile.line_of(lines, (unknown[0],)))
    name = data.get("name", path.stem)
    _need_string(name, "name", path, lines, ("name",))
    description = data.get("description", "")
    _need_string(description, "description", path, lines, ("description",))
    alert = data.get("alert", "digest")
    _need_string(alert, "alert", path, lines, ("alert",))
    if alert not in ALERT_MODES:
        raise RuleError(f"alert must be one of {', '.join(ALERT_MODES)}, got {alert!r}", path=str(path),
                        line=yamlfile.line_of(lines, ("alert",)))
    event = data.get("event")
    if event is not None:
        _need_string(event, "event", path, lines, ("event",))
        if event not in EVENTS:
            raise RuleError(f"event must be one of {', '.join(EVENTS)}, got {event!r}", path=str(path),
                            line=yamlfile.line_of(lines, ("event",)))
    query, node = _rule_query(data, path, lines, aliases)
    alert_when = None
    if data.get("alert_when") is not None:
        when = data["alert_when"]
        _, alert_when = _rule_query({"query": when} if isinstance(when, str) else when,
                                    path, lines, aliases, ("alert_when",))
    must, must_not = _examples(data.get("examples") or {}, path, lines)
    return Rule(name=name, description=description, query=query, node=node, alert=alert,
                alert_when=alert_when, path=path, event=event, must_match=must, must_not_match=must_not)


def _rule_query(data: dict, path: Path, lines: yamlfile.Lines, aliases: Mapping[str, Sequence[str]],
                prefix: tuple = ()) -> tuple[str, Node]:
    if not isinstance(data, dict):
        raise RuleError("expected a query string or all_of/any_of/none_of lists", path=str(path),
                        line=yamlfile.line_of(lines, prefix))
    has_lists = any(data.get(k) is not None for k in _LIST_KEYS)
    if "query" in data and has_lists:
        raise RuleError("use either query or all_of/any_of/none_of, not both", path=str(path),
                        line=yamlfile.line_of(lines, prefix + ("query",)))
    if "query" in data:
        _need_string(data["query"], "query", path, lines, prefix + ("query",))
        # an alert_when given as a bare string has no ("alert_when", "query") mark: mark_of falls back
        return data["query"], _parse_at(data["query"], aliases, path, lines, prefix + ("query",))
    if not has_lists:
        raise RuleError("a rule needs a query (or all_of / any_of lists)", path=str(path),
                        line=yamlfile.line_of(lines, prefix))
    lists: dict[str, list] = {}
    for key in _LIST_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not value:
            raise RuleError(f"{key} must be a non-empty list of terms", path=str(path),
                            line=yamlfile.line_of(lines, prefix + (key,)))
        for i, term in enumerate(value):
            if key == "all_of" and isinstance(term, list):
                for j, t in enumerate(term):
                    _need_string(t, f"{key} term", path, lines, prefix + (key, i, j))
                    _parse_at(t, aliases, path, lines, prefix + (key, i, j))
            else:
                _need_string(term, f"{key} term", path, lines, prefix + (key, i))
                _parse_at(term, aliases, path, lines, prefix + (key, i))
        lists[key] = value
    if "all_of" not in lists and "any_of" not in lists:
        raise RuleError("none_of alone matches nothing: add all_of or any_of", path=str(path),
                        line=yamlfile.line_of(lines, prefix + ("none_of",)))
    query = compile_lists(**lists)
    return query, _parse_at(query, aliases, path, lines, prefix)


def _parse_at(query: str, aliases: Mapping[str, Sequence[str]], path: Path, lines: yamlfile.Lines,
              loc: tuple) -> Node:
    """Parse, translating the error's place in the query into a place in the file."""
    try:
        return parse(query, aliases)
    except RuleError as exc:
        mark = yamlfile.mark_of(lines, loc)
        qline, qcol = exc.line or 1, exc.column or 1
        body = query.rstrip()
        end = (body.count("\n") + 1, len(body.rsplit("\n", 1)[-1]) + 1)
        if (qline, qcol) > end:  # "unexpected end": point just after the last character, not past it
            qline, qcol = end
        line, column = _file_position(path, mark, qline, qcol)
        raise RuleError(exc.message, path=str(path), line=line, column=column) from None


def _file_position(path: Path, mark: yamlfile.Mark | None, qline: int, qcol: int) -> tuple[int | None, int | None]:
    if mark is None:
        return None, None
    if mark.style in ("|", ">"):  # block scalar: the text starts on the next line, indented
        line = mark.line + qline
        try:
            text = path.read_text(encoding="utf-8").splitlines()[line - 1]
        except (OSError, IndexError, UnicodeDecodeError):
            return line, None
        return line, len(text) - len(text.lstrip(" ")) + qcol
    quote = 1 if mark.style in ('"', "'") else 0
    return mark.line + qline - 1, (mark.column + quote + qcol - 1) if qline == 1 else qcol


def _examples(examples: object, path: Path, lines: yamlfile.Lines) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(examples, dict):
        raise RuleError("examples must be a mapping with match: and no_match: lists", path=str(path),
                        line=yamlfile.line_of(lines, ("examples",)))
    unknown = set(map(str, examples)) - {"match", "no_match"}
    if unknown:
        raise RuleError(f"unknown key {sorted(unknown)[0]!r} in examples (match, no_match)",
                        path=str(path), line=yamlfile.line_of(lines, ("examples",)))
    out = []
    for key in ("match", "no_match"):
        values = examples.get(key) or []
        if not isinstance(values, list):
            raise RuleError(f"examples.{key} must be a list of texts", path=str(path),
                            line=yamlfile.line_of(lines, ("examples", key)))
        for i, v in enumerate(values):
            _need_string(v, f"examples.{key} item", path, lines, ("examples", key, i))
        out.append(tuple(values))
    return out[0], out[1]


def _need_string(value: object, what: str, path: Path, lines: yamlfile.Lines, loc: tuple) -> None:
    if isinstance(value, str):
        return
    hint = ""
    if isinstance(value, bool):
        hint = " (YAML read an unquoted yes/no/on/off/true/false as a boolean: put it in quotes)"
    elif isinstance(value, (int, float)):
        hint = " (YAML read it as a number: put it in quotes)"
    raise RuleError(f"{what} must be a string, got {value!r}{hint}", path=str(path),
                    line=yamlfile.line_of(lines, loc))


def _read(path: Path) -> tuple[object, yamlfile.Lines]:
    try:
        return yamlfile.load_file(path)
    except yamlfile.YamlLocatedError as exc:
        raise RuleError(exc.message, path=str(path), line=exc.line, column=exc.column) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"cannot read: {exc}", path=str(path)) from None


class RuleSource:
    """The rules directory as the running service sees it, reloaded when any file changes (edits,
    additions, deletions, an editor's write-then-rename). A bad edit of one file is reported and the
    last good version of that rule stays in force; the other files apply at once."""

    def __init__(self, rules_dir: Path, log=None):
        self.rules_dir = rules_dir
        self._log = log
        self._lock = threading.Lock()
        self._signature: tuple = ()
        self._book: RuleBook | None = None
        self._good: dict[str, Rule] = {}  # file name -> last valid rule from it
        self._aliases: dict[str, list[str]] = {}
        self.errors: list[RuleError] = []

    def _scan(self) -> tuple:
        try:
            entries = []
            for p in self.rules_dir.iterdir():
                if p.suffix in (".yaml", ".yml"):
                    st = p.stat()
                    entries.append((p.name, st.st_mtime_ns, st.st_size, st.st_ino))
            return tuple(sorted(entries))
        except OSError:
            return ()

    def current(self) -> RuleBook:
        """The rule book in force; raises RuleError only when no valid rules were ever loaded."""
        with self._lock:
            signature = self._scan()
            if self._book is None or signature != self._signature:
                self._reload(signature)
            return self._book

    def _reload(self, signature: tuple) -> None:
        if self._book is None:  # at start-up every problem is fatal: the user is there to fix it
            self._book = load_rulebook(self.rules_dir)
            self._good = {r.path.name: r for r in self._book.rules}
            self._aliases = dict(self._book.aliases)
            self._signature = signature
            return
        errors: list[RuleError] = []
        try:
            self._aliases = load_aliases(self.rules_dir / ALIASES_FILE)
        except RuleError as exc:
            errors.append(exc)
        present = {p.name: p for p in _rule_paths(self.rules_dir)}
        good = {}
        for name, path in present.items():
            try:
                good[name] = load_rule_file(path, self._aliases)
            except RuleError as exc:
                errors.append(exc)
                if name in self._good:
                    good[name] = self._good[name]
        rules = _unique_names(sorted(good.values(), key=lambda r: r.path.name), errors)
        for exc in errors:
            if self._log and str(exc) not in {str(e) for e in self.errors}:
                self._log.error("rules: edit not applied, the last good version stays in force: %s", exc)
        if self._log and not errors:
            self._log.info("rules: reloaded %d rules from %s", len(rules), self.rules_dir)
        self._good, self.errors, self._signature = good, errors, signature
        self._book = RuleBook(tuple(rules), self._aliases)


def _rule_paths(rules_dir: Path) -> list[Path]:
    paths = sorted(rules_dir.glob("*.yaml")) + sorted(rules_dir.glob("*.yml"))
    return [p for p in paths if not p.name.startswith(("_", "."))]


def _unique_names(rules: list[Rule], errors: list[RuleError]) -> list[Rule]:
    seen: dict[str, Path] = {}
    kept = []
    for rule in rules:
        if rule.name in seen:
            errors.append(RuleError(f"rule name {rule.name!r} is also used by {seen[rule.name]}",
                                    path=str(rule.path)))
            continue
        seen[rule.name] = rule.path
        kept.append(rule)
    return kept
