"""Incidents: a check that failed `fail_after` times in a row, across its hosts, until it
succeeds `resolve_after` times in a row on every host."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Incident:
    """One outage of one check in one environment. `hosts` are the hosts that were
    failing; `evidence` is the last failure's text (status, error, latency)."""

    env: str
    check: str
    opened_at: float
    hosts: tuple[str, ...]
    evidence: str
    last_alert_at: float | None = None
    resolved_at: float | None = None
    id: int | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None
