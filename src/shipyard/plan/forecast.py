"""Resource alerts from stored samples (pure): a disk that will be full within N days
at its current rate, and memory that stays over a threshold for a duration.

The serve scheduler reads a host's recent `resource_samples`, calls these, and hands
the decisions to the alert sender (one alert per open decision, by `key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DAY = 86400.0


@dataclass(frozen=True)
class DiskPoint:
    at: float  # unix time
    used: int  # bytes
    total: int
    free: int  # as a non-root user sees it


@dataclass(frozen=True)
class MemoryPoint:
    at: float
    used: int
    total: int


@dataclass(frozen=True)
class DiskForecast:
    """Where a filesystem is heading: the least-squares rate over the samples."""

    host: str
    mount: str
    used: int
    free: int
    rate_per_day: float  # bytes per day (negative: shrinking)
    days_left: float | None  # None: not growing, or too few samples to say


@dataclass(frozen=True)
class ResourceAlert:
    """One alert decision. `key` is stable while the condition lasts, so the sender can
    send it once and again only as a reminder or when it resolves."""

    kind: Literal["disk-forecast", "memory-high"]
    key: str
    env: str
    host: str
    subject: str
    detail: str


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 for fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def disk_forecast(
    host: str, mount: str, points: list[DiskPoint], *, min_span: float = 3600.0
) -> DiskForecast | None:
    """The forecast from `points` (any order); None without samples. The rate needs
    samples spanning at least `min_span` seconds, so one noisy minute cannot alert."""
    if not points:
        return None
    ordered = sorted(points, key=lambda p: p.at)
    last = ordered[-1]
    span = last.at - ordered[0].at
    rate = slope([(p.at, float(p.used)) for p in ordered]) * DAY if span >= min_span else 0.0
    days_left = last.free / rate if rate > 0 else None
    return DiskForecast(host, mount, last.used, last.free, rate, days_left)


def disk_alerts(
    env: str,
    series: dict[tuple[str, str], list[DiskPoint]],
    *,
    within_days: float,
    min_span: float = 3600.0,
) -> list[ResourceAlert]:
    """An alert for each (host, mount) that will be full within `within_days`."""
    result = []
    for (host, mount), points in sorted(series.items()):
        forecast = disk_forecast(host, mount, points, min_span=min_span)
        if forecast is None or forecast.days_left is None:
            continue
        if forecast.days_left <= within_days:
            result.append(
                ResourceAlert(
                    kind="disk-forecast",
                    key=f"disk:{env}:{host}:{mount}",
                    env=env,
                    host=host,
                    subject=f"{env}: {mount} on {host} full in {forecast.days_left:.1f} days",
                    detail=(
                        f"{_gib(forecast.free)} free, growing {_gib(forecast.rate_per_day)} "
                        f"per day ({len(points)} samples)"
                    ),
                )
            )
    return result


def memory_alerts(
    env: str,
    series: dict[str, list[MemoryPoint]],
    *,
    threshold: float,
    duration: float,
    now: float,
) -> list[ResourceAlert]:
    """An alert for each host whose memory use was at or over `threshold` (a share of
    its total) in every sample of the last `duration` seconds, those samples covering
    that time (the first at or before `now - duration`)."""
    result = []
    for host, points in sorted(series.items()):
        ordered = sorted(points, key=lambda p: p.at)
        start = now - duration
        before = [p for p in ordered if p.at <= start]
        recent = [p for p in ordered if p.at > start]
        if not before or not recent:
            continue
        window = [before[-1], *recent]
        shares = [p.used / p.total for p in window if p.total > 0]
        if len(shares) == len(window) and min(shares) >= threshold:
            result.append(
                ResourceAlert(
                    kind="memory-high",
                    key=f"memory:{env}:{host}",
                    env=env,
                    host=host,
                    subject=f"{env}: memory on {host} over {threshold:.0%} for "
                    f"{duration / 60:.0f} min",
                    detail=f"now {shares[-1]:.0%} of {_gib(window[-1].total)} "
                    f"(lowest in the window {min(shares):.0%})",
                )
            )
    return result


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f} GiB"


@dataclass(frozen=True)
class SampleView:
    """One stored resource sample, as the forecasts read it."""

    host: str
    at: float
    mem_used: int | None
    mem_total: int | None
    disks: list[dict[str, object]]  # DiskUsage as JSON: mount, total, used, free, ...


def disk_series(samples: list[SampleView]) -> dict[tuple[str, str], list[DiskPoint]]:
    """Each (host, mount)'s disk points, from samples in any order."""
    series: dict[tuple[str, str], list[DiskPoint]] = {}
    for sample in samples:
        for disk in sample.disks:
            try:
                point = DiskPoint(
                    sample.at,
                    int(str(disk["used"])),
                    int(str(disk["total"])),
                    int(str(disk["free"])),
                )
            except (KeyError, ValueError):
                continue  # a sample from another version: skip, never fail the sampler
            series.setdefault((sample.host, str(disk.get("mount"))), []).append(point)
    return series


def memory_series(samples: list[SampleView]) -> dict[str, list[MemoryPoint]]:
    series: dict[str, list[MemoryPoint]] = {}
    for sample in samples:
        if sample.mem_used is not None and sample.mem_total:
            point = MemoryPoint(sample.at, sample.mem_used, sample.mem_total)
            series.setdefault(sample.host, []).append(point)
    return series
