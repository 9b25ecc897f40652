"""From stored samples to what a chart draws: uptime periods and downsampled lines.

Pure: the pages pass in rows read from the store and get `svg.Bar`s and `svg.Series`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from shipyard.serve.reads import CheckSample
from shipyard.serve.web.svg import Bar, BarState, Series


def _stamp(at: float, span: float) -> str:
    fmt = "%Y-%m-%d %H:%M" if span < 86400 else "%Y-%m-%d"
    return time.strftime(fmt, time.gmtime(at)) + " UTC"


def uptime_periods(
    points: Iterable[CheckSample], *, start: float, end: float, count: int
) -> list[Bar]:
    """`count` equal periods from `start` to `end`: up (every result ok), down (none ok),
    degraded (some), maintenance (only results during maintenance), empty (no result)."""
    span = (end - start) / count
    ok = [0] * count
    total = [0] * count
    maintenance = [0] * count
    for point in points:
        if not start <= point.at < end:
            continue
        i = min(int((point.at - start) / span), count - 1)
        if point.maintenance:
            maintenance[i] += 1
            continue
        total[i] += 1
        ok[i] += point.ok
    bars = []
    for i in range(count):
        when = _stamp(start + i * span, span)
        state: BarState
        if total[i] == 0:
            state = "maintenance" if maintenance[i] else "empty"
            text = f"{when}: maintenance" if maintenance[i] else f"{when}: no results"
        else:
            ratio = ok[i] / total[i]
            state = "up" if ratio == 1 else "down" if ratio == 0 else "degraded"
            text = f"{when}: {ratio * 100:.2f}% up ({total[i] - ok[i]} of {total[i]} failed)"
        bars.append(Bar(state, text))
    return bars


def downsample(
    points: Sequence[tuple[float, float]], limit: int = 300
) -> list[tuple[float, float]]:
    """At most `limit` points: the mean of each equal run (a chart has ~600 pixels)."""
    if len(points) <= limit:
        return list(points)
    size = len(points) / limit
    out = []
    for i in range(limit):
        chunk = (
            points[int(i * size) : int((i + 1) * size)] or points[int(i * size) : int(i * size) + 1]
        )
        out.append((sum(p[0] for p in chunk) / len(chunk), sum(p[1] for p in chunk) / len(chunk)))
    return out


def latency_series(points: Iterable[CheckSample], limit: int = 300) -> list[Series]:
    """One line per host of the response times of answered checks."""
    by_host: dict[str, list[tuple[float, float]]] = {}
    for point in points:
        if point.latency_ms is not None:
            by_host.setdefault(point.host, []).append((point.at, point.latency_ms))
    return [
        Series(host, downsample(sorted(values), limit)) for host, values in sorted(by_host.items())
    ]
