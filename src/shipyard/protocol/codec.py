"""Typed messages to and from JSON, checked field by field.

Requests and replies are frozen dataclasses. `encode` turns one into plain JSON data;
`decode` builds one back and refuses anything that does not fit its type, naming the
field (`request.health.timeout: expected a number, got "2s"`). It is small on purpose:
the host agent imports it at every start, so it must not pull in pydantic.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, get_args, get_origin

from shipyard.errors import ExitCode, ShipyardError

T = TypeVar("T")

# JSON values whose shape the protocol does not fix (a release manifest, analysis
# figures, smoke-test results): passed through as they are
Json = Any


class ProtocolError(ShipyardError):
    """A message that does not fit the protocol: the operator and host disagree."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"{where}: {problem}",
            hint="the operator and the host agent must run the same Shipyard version",
        )
        self.where = where
        self.problem = problem


def encode(value: Any) -> Any:
    """A dataclass (or list, dict, scalar of them) as JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    return value


def decode(cls: type[T], data: Any, where: str = "message") -> T:
    """Build a `cls` from JSON data; ProtocolError names the first field that is wrong."""
    result: T = _decode(cls, data, where)
    return result


_hints: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    if cls not in _hints:
        _hints[cls] = typing.get_type_hints(cls)
    return _hints[cls]


def _name(data: Any) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, int | float):
        return "a number"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, list):
        return "a list"
    if isinstance(data, dict):
        return "an object"
    return type(data).__name__


def _decode(tp: Any, data: Any, where: str) -> Any:
    if tp is Any:
        return data
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, where)
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if data is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, data, where)
            except ProtocolError as exc:
                problems.append(exc.problem)
        raise ProtocolError(where, problems[0] if len(problems) == 1 else f"got {_name(data)}")
    if origin is typing.Literal:
        if data not in get_args(tp):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise ProtocolError(where, f"expected one of {allowed}, got {data!r}")
        return data
    if origin is list:
        if not isinstance(data, list):
            raise ProtocolError(where, f"expected a list, got {_name(data)}")
        (item,) = get_args(tp)
        return [_decode(item, value, f"{where}[{i}]") for i, value in enumerate(data)]
    if origin is tuple:
        if not isinstance(data, list):
            raise ProtocolError(where, f"expected a list, got {_name(data)}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
        if len(args) != len(data):
            raise ProtocolError(where, f"expected {len(args)} items, got {len(data)}")
        return tuple(
            _decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True))
        )
    if origin is dict:
        if not isinstance(data, dict):
            raise ProtocolError(where, f"expected an object, got {_name(data)}")
        _, value_type = get_args(tp)
        return {str(k): _decode(value_type, v, f"{where}.{k}") for k, v in data.items()}
    if tp is bool:
        if not isinstance(data, bool):
            raise ProtocolError(where, f"expected true or false, got {_name(data)}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ProtocolError(where, f"expected a whole number, got {_name(data)}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ProtocolError(where, f"expected a number, got {_name(data)}")
        return float(data)
    if tp is str:
        if not isinstance(data, str):
            raise ProtocolError(where, f"expected a string, got {_name(data)}")
        return data
    raise TypeError(f"the protocol cannot carry {tp!r} ({where})")  # a bug in a message type


def _decode_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ProtocolError(where, f"expected an object, got {_name(data)}")
    hints = _field_types(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ProtocolError(f"{where}.{unknown[0]}", "unknown field")
    values = {}
    for name, spec in known.items():
        if name in data:
            values[name] = _decode(hints[name], data[name], f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{where}.{name}", "missing")
    return cls(**values)
