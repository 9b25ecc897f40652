"""Charts drawn on the server as SVG text: uptime bars and line charts.

Pure functions from numbers to markup, so a page needs no charting script and a test can
read what was drawn. Every text that reaches the markup is escaped here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

BarState = Literal["up", "down", "degraded", "maintenance", "empty"]

PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2")
BAR_COLOURS: dict[BarState, str] = {
    "up": "#16a34a",
    "degraded": "#d97706",
    "down": "#dc2626",
    "maintenance": "#6366f1",
    "empty": "#d1d5db",
}


@dataclass(frozen=True)
class Bar:
    """One period of an uptime bar: its state and the tooltip text."""

    state: BarState
    label: str


@dataclass(frozen=True)
class Series:
    """One line of a chart: (unix time, value) points in time order."""

    name: str
    points: Sequence[tuple[float, float]]


def uptime_bars(bars: Sequence[Bar], *, width: int = 600, height: int = 28, title: str = "") -> str:
    """A row of equal bars, one per period, coloured by state, each with a tooltip."""
    count = max(len(bars), 1)
    gap = 1.0 if width / count > 3 else 0.0
    step = width / count
    rects = []
    for i, bar in enumerate(bars):
        rects.append(
            f'<rect class="bar {bar.state}" x="{i * step:.2f}" y="0" '
            f'width="{max(step - gap, 0.5):.2f}" height="{height}" rx="1" '
            f'fill="{BAR_COLOURS[bar.state]}"><title>{escape(bar.label)}</title></rect>'
        )
    return (
        f'<svg class="uptime" role="img" aria-label="{escape(title or "uptime")}" '
        f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" preserveAspectRatio="none">' + "".join(rects) + "</svg>"
    )


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is at least `value` (an axis' top)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = step * 10.0**exponent
        if top >= value * (1 - 1e-9):
            return top
    return 10.0 ** (exponent + 1)


def _clock(at: float, span: float) -> str:
    fmt = "%H:%M" if span <= 2 * 86400 else "%m-%d"
    return time.strftime(fmt, time.gmtime(at))


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def line_chart(
    series: Sequence[Series],
    *,
    unit: str = "",
    width: int = 600,
    height: int = 160,
    y_max: float | None = None,
    title: str = "",
) -> str:
    """Lines over a shared time axis, y from 0 to a round maximum; a legend when several.

    An empty chart says so instead of drawing axes around nothing.
    """
    left, right, top, bottom = 44, 8, 8, 20
    label = escape(title or "chart")
    points = [p for s in series for p in s.points if math.isfinite(p[1])]
    head = (
        f'<svg class="chart" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">'
    )
    if not points:
        return (
            head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
            'class="empty" fill="#6b7280">no data yet</text></svg>'
        )
    t0 = min(p[0] for p in points)
    t1 = max(p[0] for p in points)
    span = max(t1 - t0, 1.0)
    y_top = y_max if y_max is not None else nice_ceiling(max(p[1] for p in points))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(at: float) -> float:
        return left + (at - t0) / span * plot_w

    def y(value: float) -> float:
        return top + plot_h - min(max(value, 0.0), y_top) / y_top * plot_h

    parts = [head]
    for fraction in (0.0, 0.5, 1.0):
        gy = top + plot_h - fraction * plot_h
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{left - 4}" y="{gy + 4:.1f}" text-anchor="end" font-size="10" '
            f'fill="#6b7280">{escape(_number(y_top * fraction) + unit)}</text>'
        )
    for at, anchor in ((t0, "start"), (t1, "end")):
        parts.append(
            f'<text x="{x(at):.1f}" y="{height - 5}" text-anchor="{anchor}" font-size="10" '
            f'fill="#6b7280">{_clock(at, span)}</text>'
        )
    for i, one in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in one.points if math.isfinite(v))
        if not coords:
            continue
        parts.append(
            f'<polyline class="line" fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{coords}"><title>{escape(one.name)}</title></polyline>'
        )
    if len(series) > 1:
        for i, one in enumerate(series):
            colour = PALETTE[i % len(PALETTE)]
            lx = left + 4 + i * 110
            parts.append(
                f'<rect x="{lx}" y="{top}" width="8" height="8" fill="{colour}"/>'
                f'<text x="{lx + 11}" y="{top + 8}" font-size="10" fill="#374151">'
                f"{escape(one.name[:16])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
