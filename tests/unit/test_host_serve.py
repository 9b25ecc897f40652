"""`shipyard host serve`: one JSON request per line in, one JSON result per line out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_host_agent_answers_each_line_and_survives_bad_ones(tmp_path: Path) -> None:
    base = {"root": str(tmp_path), "app": "demo", "env": "test"}
    lines = [
        json.dumps({"op": "hello", "request": base}),
        "this is not json",
        json.dumps({"op": "no-such-op", "request": base}),
        json.dumps({"op": "lock", "request": base | {"action": "status"}}),
    ]
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.host", "serve"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in replies] == [True, False, False, True]
    assert replies[0]["protocol"] == 1
    assert "malformed" in replies[1]["error"]
    assert "unknown host operation" in replies[2]["error"]
    assert replies[3]["lock"] is None
    assert (tmp_path / "demo" / "test" / "state.db").exists()
