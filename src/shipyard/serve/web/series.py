"""From stored check results to what a chart draws: uptime bars and response-time lines.

Pure: the store counts the results in equal slices of the period (`check_buckets`, one
query, so a 30-day page reads a few hundred rows, not every result); these functions
turn those counts into `svg.Bar`s and `svg.Series`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from shipyard.serve.reads import CheckBucket
from shipyard.serve.web.svg import Bar, BarState, Series


def _stamp(at: float, span: float) -> str:
    fmt = "%Y-%m-%d %H:%M" if span < 86400 else "%Y-%m-%d"
    return time.strftime(fmt, time.gmtime(at)) + " UTC"


def uptime_bars(
    buckets: Iterable[CheckBucket],
    *,
    start: float,
    end: float,
    count: int,
    group: int = 1,
    offset: int = 0,
) -> list[Bar]:
    """`count` bars from `start` to `end`, each summing `group` consecutive slices over
    every host: up (every result ok), down (none), degraded (some), maintenance (only
    results in maintenance windows), empty (no result)."""
    ok = [0] * count
    counted = [0] * count
    maintenance = [0] * count
    for bucket in buckets:
        i = (bucket.index - offset) // group
        if not 0 <= i < count:
            continue
        ok[i] += bucket.ok
        counted[i] += bucket.results - bucket.maintenance
        maintenance[i] += bucket.maintenance
    span = (end - start) / count
    bars = []
    for i in range(count):
        when = _stamp(start + i * span, span)
        state: BarState
        if counted[i] == 0:
            state = "maintenance" if maintenance[i] else "empty"
            text = f"{when}: maintenance" if maintenance[i] else f"{when}: no results"
        else:
            ratio = ok[i] / counted[i]
            state = "up" if ratio == 1 else "down" if ratio == 0 else "degraded"
            text = f"{when}: {ratio * 100:.2f}% up ({counted[i] - ok[i]} of {counted[i]} failed)"
        bars.append(Bar(state, text))
    return bars


def uptime_pct(buckets: Iterable[CheckBucket]) -> float | None:
    """Share of ok results outside maintenance, in %; None without any."""
    ok = counted = 0
    for bucket in buckets:
        ok += bucket.ok
        counted += bucket.results - bucket.maintenance
    return ok / counted * 100 if counted else None


def latency_lines(
    buckets: Iterable[CheckBucket], *, start: float, slice_s: float, offset: int = 0
) -> list[Series]:
    """One line per host: the mean response time of each slice, at the slice's middle
    (slice `offset` is the one at `start`)."""
    by_host: dict[str, list[tuple[float, float]]] = {}
    for bucket in buckets:
        if bucket.latency_ms is not None:
            at = start + (bucket.index - offset + 0.5) * slice_s
            by_host.setdefault(bucket.host, []).append((at, bucket.latency_ms))
    return [Series(host, sorted(points)) for host, points in sorted(by_host.items())]
