"""Uptime, the SLO and the error budget, from stored check results.

Uptime over a window is the share of the results in it that passed, each host's result of
each run counting once; results taken inside a maintenance window are left out of both
sides. The error budget is what the SLO target allows to fail in that window: with a
99.9 % target and 10,000 counted results, 10 may fail; `budget_left` is the share of
those 10 not yet used (negative once the SLO is broken). Downtime is the failed share of
the window's length, so it reads in minutes whatever the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.plan.check_results import CheckResult

WINDOWS: tuple[tuple[str, float], ...] = (
    ("24h", 86400.0),
    ("7d", 7 * 86400.0),
    ("30d", 30 * 86400.0),
    ("90d", 90 * 86400.0),
)


@dataclass(frozen=True)
class Uptime:
    window: str
    seconds: float
    counted: int  # results outside maintenance
    failed: int
    maintenance: int  # results left out
    target: float  # percent

    @property
    def percent(self) -> float | None:
        """None while nothing was counted."""
        if not self.counted:
            return None
        return 100.0 * (self.counted - self.failed) / self.counted

    @property
    def allowed_failures(self) -> float:
        return self.counted * (1 - self.target / 100)

    @property
    def budget_left(self) -> float | None:
        """Share of the error budget left: 1.0 unused, 0 spent, below 0 the SLO is broken."""
        if not self.counted:
            return None
        allowed = self.allowed_failures
        if allowed == 0:
            return 1.0 if self.failed == 0 else float("-inf")
        return 1 - self.failed / allowed

    @property
    def downtime_seconds(self) -> float:
        return self.seconds * self.failed / self.counted if self.counted else 0.0

    @property
    def allowed_downtime_seconds(self) -> float:
        return self.seconds * (1 - self.target / 100)

    @property
    def meets_slo(self) -> bool | None:
        percent = self.percent
        return None if percent is None else percent >= self.target


def uptime(
    results: Sequence[CheckResult], now: float, window: str, seconds: float, target: float
) -> Uptime:
    """Uptime of `results` in the `seconds` before `now`."""
    start = now - seconds
    inside = [r for r in results if start <= r.at <= now]
    counted = [r for r in inside if not r.maintenance]
    return Uptime(
        window=window,
        seconds=seconds,
        counted=len(counted),
        failed=sum(1 for r in counted if not r.ok),
        maintenance=len(inside) - len(counted),
        target=target,
    )


def uptimes(results: Sequence[CheckResult], now: float, target: float) -> list[Uptime]:
    """Uptime over 24 h, 7 d, 30 d and 90 d."""
    return [uptime(results, now, name, seconds, target) for name, seconds in WINDOWS]
