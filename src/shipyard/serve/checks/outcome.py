"""What one run of a check against one target found."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    ok: bool
    latency_ms: float | None = None
    status: int | None = None  # HTTP status; days left of a certificate
    error: str = ""


def failed(error: str, latency_ms: float | None = None, status: int | None = None) -> Outcome:
    return Outcome(False, latency_ms, status, error[:500])
