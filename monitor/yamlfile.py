"""Safe YAML loading with locations, for config and rule files.

Returns the data together with the line of every key path, rejects duplicate keys and refuses
anchors/aliases (a rule file is short; a billion-laughs file is not worth supporting).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# libyaml's parser (PyYAML's C binding) reads a 10,000-feed config ~12x faster than the pure-Python one and
# gives the same nodes and marks; the pure one stands in where PyYAML was built without libyaml.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Mark:
    """Where a value starts: 1-based line and column, and its scalar style ('|', '>', '"', "'" or None)."""

    line: int
    column: int
    style: str | None = None


class Lines(dict):
    """Key path -> Mark of the value at that path."""


class YamlLocatedError(ValueError):
    """A YAML problem at a line (1-based) and column (1-based)."""

    def __init__(self, message: str, line: int | None, column: int | None = None):
        self.message, self.line, self.column = message, line, column
        super().__init__(message)


def load(text: str, loader_class: type = FAST_LOADER) -> tuple[Any, Lines]:
    """Parse `text` safely; return (data, {key path: line})."""
    loader = loader_class(text)
    try:
        _refuse_anchors(text, loader_class)
        node = loader.get_single_node()
        if node is None:
            return None, Lines()
        lines = Lines()
        return _build(loader, node, (), lines), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlLocatedError(f"invalid YAML: {exc.problem or exc.context}",
                               mark.line + 1 if mark else None,
                               mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YamlLocatedError(f"invalid YAML: {exc}", None) from None
    finally:
        loader.dispose()


def load_file(path: Path) -> tuple[Any, Lines]:
    return load(path.read_text(encoding="utf-8"))


def line_of(lines: Lines, loc: tuple) -> int | None:
    """The line of the deepest known prefix of `loc` (pydantic error locations included)."""
    loc = tuple(loc)
    mark = mark_of(lines, loc)
    return mark.line if mark else None


def mark_of(lines: Lines, loc: tuple) -> Mark | None:
    """The Mark of the deepest known prefix of `loc`."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _refuse_anchors(text: str, loader_class: type) -> None:
    if "&" not in text and "*" not in text:
        return  # an anchor is written `&name` and an alias `*name`: without either character there is neither
    for event in yaml.parse(text, Loader=loader_class):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            raise YamlLocatedError("YAML anchors and aliases are not allowed here",
                                   mark.line + 1, mark.column + 1)


def _build(loader: yaml.BaseLoader, node: yaml.Node, path: tuple, lines: Lines) -> Any:
    lines[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1, getattr(node, "style", None) or None)
    if type(node) is yaml.ScalarNode:  # most nodes (a feed's url): built without construct_object's graph
        if node.tag == _STR:           # bookkeeping; a string is the scalar's own value, as SafeLoader gives it
            return node.value
        if node.tag in loader.yaml_constructors:
            return loader.yaml_constructors[node.tag](loader, node)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            is_str = type(key_node) is yaml.ScalarNode and key_node.tag == _STR
            key = key_node.value if is_str else loader.construct_object(key_node, deep=True)
            if key == "<<":
                raise YamlLocatedError("YAML merge keys are not allowed here",
                                       key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in out:
                raise YamlLocatedError(f"duplicate key {key!r}", key_node.start_mark.line + 1,
                                       key_node.start_mark.column + 1)
            out[key] = _build(loader, value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, child, path + (i,), lines) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
