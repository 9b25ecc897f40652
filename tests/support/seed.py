"""Seed an environment's real host state through the host agent, as deploys would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shipyard import __version__
from shipyard.protocol.op import PROTOCOL_VERSION


def seed_history(root: Path, env: str, count: int, message_bytes: int = 1000) -> None:
    """`count` finished deployments (long commit messages), recorded by one `host serve`."""
    scope = {"root": str(root), "app": "reconcile", "env": env}
    requests: list[dict[str, Any]] = [
        {
            "op": "hello",
            "request": {**scope, "operator_version": __version__, "protocol": PROTOCOL_VERSION},
        }
    ]
    for i in range(count):
        deployment = {
            "id": f"dep-{i:04d}",
            "kind": "deploy",
            "release_id": f"20260101-{i:04d}-abcdef1",
            "previous_release_id": None,
            "commit_sha": "abcdef1" * 5 + "abcde",
            "commit_time": "2026-01-01T00:00:00Z",
            "trigger": "manual",
            "actor": "seed",
            "message": f"change {i}: " + "x" * message_bytes,
            "hosts": ["h"],
            "started_at": 1_700_000_000.0 + i,
            "promoted_from": None,
        }
        requests.append({"op": "record-start", "request": {**scope, "deployment": deployment}})
        update = {
            "deployment_id": deployment["id"],
            "phases": {"prepare": 1.0},
            "outcome": "succeeded",
            "error": None,
            "previous_release_id": None,
            "analysis": None,
            "checks": None,
            "finished": True,
        }
        requests.append({"op": "record-update", "request": {**scope, **update}})
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.host", "serve"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    replies = [json.loads(line) for line in result.stdout.splitlines()]
    failed = [r for r in replies if not r.get("ok")]
    assert len(replies) == len(requests) and not failed, failed[:1] or result.stderr
