"""`shipyard host serve`: one JSON request per line in, one JSON reply per line out,
decoded once into the operation's typed request; it survives anything sent to it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shipyard import __version__
from shipyard.protocol.op import MAX_REQUEST_BYTES, PROTOCOL_VERSION


def serve(lines: list[str | bytes]) -> list[dict[str, Any]]:
    data = b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.host", "serve"],
        input=data,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def hello(base: dict[str, str]) -> str:
    request = base | {"operator_version": __version__, "protocol": PROTOCOL_VERSION}
    return json.dumps({"op": "hello", "request": request})


def test_the_host_agent_answers_each_line_and_survives_bad_ones(tmp_path: Path) -> None:
    base = {"root": str(tmp_path), "app": "demo", "env": "test"}
    lines: list[str | bytes] = [
        hello(base),
        "this is not json",
        json.dumps({"op": "no-such-op", "request": base}),
        json.dumps({"op": "lock-status", "request": base}),
    ]
    replies = serve(lines)
    assert [r["ok"] for r in replies] == [True, False, False, True]
    assert replies[0]["protocol"] == PROTOCOL_VERSION and replies[0]["version"] == __version__
    assert "malformed" in replies[1]["error"]
    assert "unknown host operation" in replies[2]["error"]
    assert replies[3]["lock"] is None
    # reading the lock of a host never deployed to creates no state there
    assert (tmp_path / "demo" / "test").is_dir()
    assert not (tmp_path / "demo" / "test" / "state.db").exists()


def test_a_request_that_does_not_fit_its_type_is_refused_naming_the_field(
    tmp_path: Path,
) -> None:
    base = {"root": str(tmp_path), "app": "demo", "env": "test"}
    wrong = {"after_id": "zero", "limit": 10, "deployment_id": None}
    missing = {"limit": 10, "deployment_id": None}
    extra = {"after_id": 0, "limit": 10, "deployment_id": None, "colour": "blue"}
    replies = serve(
        [
            json.dumps({"op": "events", "request": base | wrong}),
            json.dumps({"op": "events", "request": base | missing}),
            json.dumps({"op": "events", "request": base | extra}),
            json.dumps({"op": "events", "request": {"app": "demo", "env": "test"}}),
            json.dumps({"op": "events", "request": base | missing | {"after_id": 0}}),
        ]
    )
    assert [r["ok"] for r in replies] == [False, False, False, False, True]
    assert "request.after_id: expected a whole number" in replies[0]["error"]
    assert "request.after_id: missing" in replies[1]["error"]
    assert "request.colour: unknown field" in replies[2]["error"]
    assert "request.root" in replies[3]["error"]
    assert all(r["version"] == __version__ for r in replies[:4])  # any operator can tell


def test_a_deeply_nested_or_oversized_line_gets_an_error_and_the_agent_keeps_serving(
    tmp_path: Path,
) -> None:
    base = {"root": str(tmp_path), "app": "demo", "env": "test"}
    nested = "[" * 100_000 + "]" * 100_000
    huge = b'{"op": "hello", "request": {"x": "' + b"a" * (MAX_REQUEST_BYTES + 10) + b'"}}'
    replies = serve([nested, huge, hello(base)])
    assert [r["ok"] for r in replies] == [False, False, True]
    assert "not JSON the agent can read" in replies[0]["error"]
    assert "refused unread" in replies[1]["error"]
