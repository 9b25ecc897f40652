"""Where the working tree's `shipyard.yml` and a release's own disagree on what runs.

Pure: two runtime specs (as JSON) in, the keys that differ out, each with both values,
so a command can say what differs before it starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.config.runtime import RuntimeSpec


@dataclass(frozen=True)
class Difference:
    """One key (dotted path) whose value differs; None: the key is absent on that side."""

    key: str
    working: Any
    release: Any

    def describe(self) -> str:
        return f"{self.key}: working tree {_show(self.working)}, release {_show(self.release)}"


def differences(working: RuntimeSpec, release: RuntimeSpec) -> list[Difference]:
    """Every leaf key on which the two specs differ, in key order."""
    return _walk(working.to_json(), release.to_json(), ())


def _walk(working: Any, release: Any, path: tuple[str, ...]) -> list[Difference]:
    if isinstance(working, Mapping) and isinstance(release, Mapping):
        found: list[Difference] = []
        for key in sorted(set(working) | set(release)):
            found += _walk(working.get(key), release.get(key), (*path, str(key)))
        return found
    if working == release:
        return []
    return [Difference(".".join(path), working, release)]


def _show(value: Any) -> str:
    if value is None:
        return "(not set)"
    return json.dumps(value) if not isinstance(value, str) else repr(value)
