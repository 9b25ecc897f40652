"""The environment file on a host: KEY="json-escaped value" lines, mode 0600."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.core.files import atomic_write


def render_env_file(values: dict[str, str]) -> str:
    lines = ["# Written by Shipyard. Mode 0600: it holds secrets."]
    lines += [f"{key}={json.dumps(value)}" for key, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


def parse_env_file(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        values[key] = json.loads(raw) if raw.startswith('"') else raw
    return values


def read_env_file(path: Path) -> dict[str, str]:
    try:
        return parse_env_file(path.read_text())
    except FileNotFoundError:
        return {}


def write_env_file(path: Path, values: dict[str, str]) -> None:
    atomic_write(path, render_env_file(values), mode=0o600)
