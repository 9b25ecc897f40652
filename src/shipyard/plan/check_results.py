"""One check's outcome on one host at one time: what the store keeps and what the
incident machine and the uptime figures are computed from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckResult:
    """`host` is the host the check went to (`-` for checks of one URL); `at` is UNIX
    seconds (UTC); `status` the HTTP status or days left of a certificate, when there is
    one; `maintenance` true when it ran inside a maintenance window."""

    env: str
    check: str
    host: str
    at: float
    ok: bool
    latency_ms: float | None = None
    status: int | None = None
    error: str = ""
    maintenance: bool = False
