"""Keep secret values out of everything Shipyard prints."""

from __future__ import annotations

MASK = "***"


def redact(text: str, secrets: list[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
    return text
