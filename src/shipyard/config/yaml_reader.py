"""Parse YAML text with bounds: depth, size after aliases, duplicate keys, bad values.

PyYAML's safe loader still lets a small file cost a lot: aliases share nodes, so
`a: &a [*a]` never ends and nine levels of nine aliases ("billion laughs") expand to
hundreds of millions of values; deep nesting exhausts the stack; `!!int abc`,
`!!bool maybe`, `2020-13-45` or a 5,000-digit number raise plain Python errors; a key
given twice silently keeps the last value. Here each one is a `YamlProblem` with the
line and the key path where it happened, raised before any cost is paid.

Parsing and composing use libyaml when PyYAML has it (25 times faster than PyYAML's own
parser, which reads as little as 30 KiB a second on a busy machine); a first pass over
the events bounds the depth and the number of values before anything is composed, so
libyaml's recursive composer only ever sees shallow documents. Building the values is
PyYAML's safe constructor, in Python, with every error located.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

from shipyard.config.safe_values import shown

KeyPath = tuple[str | int, ...]

MAX_DEPTH = 40
MAX_VALUES = 20_000  # nodes, counting every use of an alias as a copy
_PARSER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = (
    yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
)
_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
_NODE = (yaml.ScalarEvent, yaml.AliasEvent, *_OPEN)
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
_MERGE = "tag:yaml.org,2002:merge"
_YAML_TAG = "tag:yaml.org,2002:"


class YamlProblem(ConstructorError):
    """A refused document: where (`problem_mark`), what, and the key path if known."""

    def __init__(self, problem: str, node_or_mark: Any, key_path: KeyPath = ()) -> None:
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        super().__init__(None, None, problem, mark)
        self.key_path = key_path


class BoundedLoader(yaml.SafeLoader):
    """A safe loader with bounds, that also records the line of every key and item."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.text = stream
        self.lines: dict[KeyPath, int] = {}
        self._paths: dict[int, KeyPath] = {}

    def load_document(self) -> Any:
        """The document's data (None when empty), after every bound is checked."""
        _bound_events(self.text)
        composer = _PARSER(self.text)
        try:
            node = composer.get_single_node()
        finally:
            composer.dispose()
        if node is None:
            return None
        self._check(node)
        data = self.construct_document(node)
        self._record(node, ())
        return data

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise YamlProblem(_unreadable(node, exc), node, self._paths.get(id(node), ())) from None

    def _check(self, root: yaml.Node) -> None:
        """Count values as if aliases were copies; refuse cycles, excess, duplicate keys."""
        sizes: dict[int, int] = {}
        open_nodes: set[int] = set()
        shared = False

        def size(node: yaml.Node, path: KeyPath, depth: int) -> int:
            nonlocal shared
            key = id(node)
            if key in sizes:
                shared = True
                return sizes[key]
            if key in open_nodes:
                raise YamlProblem(
                    "an alias refers to the value that contains it (it would expand forever)",
                    node,
                    path,
                )
            if depth > MAX_DEPTH:
                raise YamlProblem(
                    f"nested more than {MAX_DEPTH} levels deep once its aliases are expanded",
                    node,
                    path,
                )
            self._paths.setdefault(key, path)
            if isinstance(node, yaml.ScalarNode) and "\x00" in node.value:
                raise YamlProblem("contains a NUL character (\\0)", node, path)
            open_nodes.add(key)
            total = 1
            for child, child_path in _children(node, path):
                total += size(child, child_path, depth + 1)
                if total > MAX_VALUES:
                    what = (
                        "expands to more than {:,} values through its aliases (*name)"
                        if shared
                        else "has more than {:,} values"
                    )
                    raise YamlProblem(what.format(MAX_VALUES), node, path)
            open_nodes.discard(key)
            sizes[key] = total
            return total

        size(root, (), 0)

    def _record(self, node: yaml.Node, path: KeyPath) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                self._record(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                self._record(item, (*path, index))


def _bound_events(text: str) -> None:
    """Refuse, from the event stream alone, a document too deep or with too many values."""
    depth = values = 0
    try:
        for event in yaml.parse(text, Loader=_PARSER):
            if isinstance(event, _NODE):
                values += 1
                if values > MAX_VALUES:
                    raise YamlProblem(f"has more than {MAX_VALUES:,} values", event.start_mark)
            if isinstance(event, _OPEN):
                depth += 1
                if depth > MAX_DEPTH:
                    raise YamlProblem(_TOO_DEEP, event.start_mark)
            elif isinstance(event, _CLOSE):
                depth -= 1
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        if exc.problem and "maximum nesting depth" in exc.problem:  # libyaml's own bound
            raise YamlProblem(_TOO_DEEP, exc.problem_mark) from None
        raise


def _children(node: yaml.Node, path: KeyPath) -> list[tuple[yaml.Node, KeyPath]]:
    if isinstance(node, yaml.SequenceNode):
        return [(item, (*path, index)) for index, item in enumerate(node.value)]
    if not isinstance(node, yaml.MappingNode):
        return []
    children: list[tuple[yaml.Node, KeyPath]] = []
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
            name = (key_node.tag, key_node.value)
            if name in seen:
                first = seen[name].start_mark.line + 1
                raise YamlProblem(
                    f"key {shown(key_node.value)} is given twice, on line {first} and line "
                    f"{key_node.start_mark.line + 1}; keep one",
                    key_node,
                    (*path, key_node.value),
                )
            seen[name] = key_node
        key: str | int = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
        children.append((key_node, (*path, key)))
        children.append((value_node, (*path, key)))
    return children


def _unreadable(node: yaml.Node, exc: Exception) -> str:
    value = shown(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
    tag = node.tag.replace(_YAML_TAG, "!!")
    if tag == "!!timestamp":
        why = f" ({exc})" if isinstance(exc, ValueError) else ""
        return f"{value} looks like a date (!!timestamp) but is not one{why}; quote it for text"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return f"{value} is a number of more than 4,300 digits"
    reason = str(exc) if isinstance(exc, ValueError | OverflowError) else "not a valid value"
    return f"{value} cannot be read as {tag}: {shown(reason, 100)}"
