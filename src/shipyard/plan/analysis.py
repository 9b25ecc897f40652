"""Pure post-switch analysis: turn samples from the hosts into a verdict.

Like Argo Rollouts' post-promotion analysis: each interval is one measurement across all
hosts; a measurement fails when the new release's 5xx ratio or p95 latency (real traffic,
from nginx's access log) is over its threshold, when nginx had to fall back to the old
slot, when Shipyard's own probe through nginx fails, or when the new process is not
running. `failure_limit` failed measurements roll the release back; the analysis passes
when the window has elapsed with at least `consecutive_successes` good measurements last.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from shipyard.protocol.common import Traffic
from shipyard.protocol.observe import ObserveSampleReply

# $msec $status $request_time "$upstream_addr" "$request_method $request_uri"
_LINE = re.compile(r'^(?P<msec>[\d.]+) (?P<status>\d{3}) (?P<rt>[\d.]+) "(?P<upstream>[^"]*)"')


@dataclass(frozen=True)
class LogEntry:
    at: float
    status: int
    seconds: float
    upstream: str


def parse_access_line(line: str) -> LogEntry | None:
    match = _LINE.match(line)
    if not match:
        return None
    return LogEntry(
        at=float(match["msec"]),
        status=int(match["status"]),
        seconds=float(match["rt"]),
        upstream=match["upstream"],
    )


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(entries: list[LogEntry], new_upstream: str, since: float) -> Traffic:
    """Figures for requests logged after `since` (the switch) that went to the new slot."""
    relevant = [e for e in entries if e.at >= since]
    served = [e for e in relevant if e.upstream == new_upstream]
    # nginx tried the new slot, failed to get an answer, and asked the old one (backup)
    fallbacks = [e for e in relevant if e.upstream != new_upstream and new_upstream in e.upstream]
    latencies = [e.seconds * 1000 for e in served]
    return Traffic(
        requests=len(served) + len(fallbacks),
        errors=sum(1 for e in served if e.status >= 500),
        fallbacks=len(fallbacks),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
    )


@dataclass(frozen=True)
class Thresholds:
    max_error_ratio: float
    max_p95_ms: float | None
    failure_limit: int
    consecutive_successes: int


@dataclass(frozen=True)
class Measurement:
    ok: bool
    reasons: list[str]
    figures: dict[str, Any]


def measure(samples: dict[str, ObserveSampleReply], thresholds: Thresholds) -> Measurement:
    """One interval across every host: is the new release behaving?"""
    reasons: list[str] = []
    requests = errors = fallbacks = 0
    worst_p95: float | None = None
    for host, sample in samples.items():
        traffic = sample.traffic
        requests += traffic.requests
        errors += traffic.errors
        fallbacks += traffic.fallbacks
        if traffic.p95_ms is not None:
            worst_p95 = max(worst_p95 or 0.0, traffic.p95_ms)
        if sample.process != "RUNNING":
            reasons.append(f"{host}: the new release's process is {sample.process}")
        if not sample.probe.ok:
            reasons.append(f"{host}: probe through nginx failed: {sample.probe.detail}")
    failed = errors + fallbacks
    ratio = failed / requests if requests else 0.0
    if requests and ratio > thresholds.max_error_ratio:
        reasons.append(
            f"error ratio {ratio:.1%} ({errors} 5xx, {fallbacks} fell back to the old slot, "
            f"of {requests}) is over {thresholds.max_error_ratio:.1%}"
        )
    limit = thresholds.max_p95_ms
    if limit is not None and worst_p95 is not None and worst_p95 > limit:
        reasons.append(f"p95 latency {worst_p95:.0f} ms is over {thresholds.max_p95_ms:.0f} ms")
    figures = {
        "requests": requests,
        "errors_5xx": errors,
        "fallbacks": fallbacks,
        "error_ratio": round(ratio, 4),
        "p95_ms": None if worst_p95 is None else round(worst_p95, 1),
    }
    return Measurement(not reasons, reasons, figures)


@dataclass
class Analysis:
    """The running tally of measurements for one deploy."""

    thresholds: Thresholds
    measurements: list[Measurement] = field(default_factory=list)

    def add(self, measurement: Measurement) -> None:
        self.measurements.append(measurement)

    @property
    def failures(self) -> int:
        return sum(1 for m in self.measurements if not m.ok)

    def verdict(self, window_over: bool) -> str:
        """`fail`, `pass` or `continue`."""
        if self.failures >= self.thresholds.failure_limit:
            return "fail"
        if not window_over:
            return "continue"
        trailing = 0
        for m in reversed(self.measurements):
            if not m.ok:
                break
            trailing += 1
        return "pass" if trailing >= self.thresholds.consecutive_successes else "fail"

    def summary(self) -> dict[str, Any]:
        totals = {"requests": 0, "errors_5xx": 0, "fallbacks": 0}
        p95s = []
        for m in self.measurements:
            for key in totals:
                totals[key] += m.figures[key]
            if m.figures["p95_ms"] is not None:
                p95s.append(m.figures["p95_ms"])
        failed = [r for m in self.measurements for r in m.reasons]
        return {
            **totals,
            "measurements": len(self.measurements),
            "failed_measurements": self.failures,
            "worst_p95_ms": max(p95s) if p95s else None,
            "reasons": failed[:10],
        }
