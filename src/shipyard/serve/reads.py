"""What the dashboard and its pollers need from the store (`serve/store.py: Store`).

A protocol of the few calls they make, so the pages depend on nothing else of the store;
`Store` implements them for SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class CheckSample(Protocol):
    """One stored check result, as the charts read it (`plan/check_results.CheckResult`)."""

    @property
    def check(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def ok(self) -> bool: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def maintenance(self) -> bool: ...


@dataclass(frozen=True)
class CheckBucket:
    """The results of one check on one host in one slice of a period (index from 0)."""

    check: str
    host: str
    index: int
    results: int
    maintenance: int  # of `results`, how many ran in a maintenance window
    ok: int  # of the others, how many succeeded
    latency_ms: float | None  # the mean of those that had one


class ResourceReading(Protocol):
    """One host's resources at one time (`serve/store.py: ResourceSample`)."""

    @property
    def host(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def cpu_pct(self) -> float | None: ...
    @property
    def mem_used(self) -> int | None: ...
    @property
    def mem_total(self) -> int | None: ...


class DashboardStore(Protocol):
    def mirror_deploys(self, env: str, host: str, records: dict[str, str]) -> None:
        """Store deploy records (id -> JSON) as read from a host, replacing older copies."""

    def mirrored_deploys(self, env: str, host: str | None = None) -> dict[str, str]:
        """deploy id -> record JSON of an environment."""

    def results(
        self,
        env: str,
        check: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
    ) -> Sequence[CheckSample]:
        """Check results of an environment, oldest first, in [since, until)."""

    def result_counts(
        self, env: str, since: float, until: float | None = None
    ) -> dict[str, tuple[int, int, int]]:
        """Per check: (counted, failed, in maintenance) results in [since, until)."""

    def confidence(self, env: str, since: float | None = None) -> list[tuple[str, float, int]]:
        """(who, at, score) confidence ratings of an environment."""

    def add_rating(self, env: str, who: str, at: float, score: int, note: str = "") -> None:
        """Record one person's 1-10 deploy confidence (the dashboard's rating form)."""

    def resource_samples(
        self, env: str, host: str | None = None, since: float | None = None
    ) -> Sequence[ResourceReading]:
        """Resource samples of an environment (one host), oldest first."""

    def newest_result(self, env: str, check: str) -> CheckSample | None:
        """The newest result of one check (any host)."""

    def check_buckets(
        self, env: str, since: float, until: float, count: int
    ) -> Sequence[CheckBucket]:
        """Results of `env` in [since, until) counted in `count` equal slices, per check
        and host (slices without results are left out)."""
