"""The environment file on a host: KEY="json-escaped value" lines, mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(render_env_file(values))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
