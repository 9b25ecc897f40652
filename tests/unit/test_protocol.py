"""The typed protocol: every operation's request and reply survives the wire unchanged,
and a message that does not fit its type is refused naming the field."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

import pytest

from shipyard.protocol.catalog import CATALOG
from shipyard.protocol.codec import ProtocolError, decode, encode
from shipyard.protocol.common import Probe
from shipyard.protocol.specs import HealthSpec


def sample(tp: Any) -> Any:
    """A value of type `tp` with every field filled (the first option of a union)."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: sample(hints[f.name]) for f in dataclasses.fields(tp)})
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        return [sample(args[0])]
    if origin is tuple:
        return tuple(sample(a) for a in args)
    if origin is dict:
        return {"key": sample(args[1])}
    return {str: "text", int: 7, float: 1.5, bool: True, Any: {"any": [1, "json"]}}[tp]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_request_and_reply_comes_back_from_the_wire_as_it_was_sent(name: str) -> None:
    op = CATALOG[name]
    for message_type in (op.request, op.reply):
        value = sample(message_type)
        wire = json.loads(json.dumps(encode(value)))
        assert decode(message_type, wire) == value


@pytest.mark.parametrize(
    ("data", "where", "problem"),
    [
        ({"path": "/h", "status": "200"}, "health.status", "expected a whole number"),
        ({"path": "/h", "status": True}, "health.status", "expected a whole number"),
        ({"path": 1, "status": 200}, "health.path", "expected a string"),
        ({"status": 200}, "health.path", "missing"),
        ({"path": "/h", "status": 200, "port": 1}, "health.port", "unknown field"),
    ],
)
def test_a_field_of_the_wrong_type_missing_or_unknown_is_named(
    data: dict[str, Any], where: str, problem: str
) -> None:
    base = encode(sample(HealthSpec))
    message = {k: v for k, v in base.items() if k not in ("path", "status")} | data
    with pytest.raises(ProtocolError) as refused:
        decode(HealthSpec, message, "health")
    assert refused.value.where == where and problem in refused.value.problem


def test_nested_values_are_decoded_into_their_types() -> None:
    probe = decode(Probe, encode(sample(Probe)))
    assert isinstance(probe, Probe) and probe.describe().startswith("GET text")
