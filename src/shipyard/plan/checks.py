"""Pure: does an HTTP response pass a check (status, body substring, JSON field)?

Used before the switch against the new slot (on the host) and after it through the
environment's URL (from the operator), so both judge a response the same way.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard.protocol.specs import HttpCheckSpec


def dig(document: Any, path: str) -> Any:
    """Follow a dotted JSON path (`data.items.0.id`); KeyError when it is not there."""
    current = document
    for part in path.split("."):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise KeyError(path)
    return current


def judge_response(check: HttpCheckSpec, status: int, body: str) -> str | None:
    """None if the response passes, else what is wrong with it."""
    if status != check.status:
        return f"HTTP {status}, expected {check.status}"
    if check.contains is not None and check.contains not in body:
        return f"body does not contain {check.contains!r}"
    if check.json_path is not None:
        try:
            value = dig(json.loads(body), check.json_path)
        except (ValueError, KeyError):
            return f"no JSON field {check.json_path!r} in the response"
        if check.equals is not None and value != check.equals:
            return f"{check.json_path} is {value!r}, expected {check.equals!r}"
    return None
