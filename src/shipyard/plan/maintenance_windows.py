"""Whether a moment falls inside one of an environment's maintenance windows (UTC).

A repeating window opens at every minute its five-field cron expression matches and
lasts `minutes`; a one-off window runs from `start` to `end`. Pure and cached per
minute, so 500 checks a round cost one evaluation per window and minute.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime

from shipyard.config.observe import MaintenanceWindow

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, every = part.partition("/")
        stride = int(every) if every else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-")
            first, last = int(a), int(b)
        else:
            first = last = int(span)
        values.update(range(first, last + 1, stride))
    return frozenset(0 if v == 7 and high == 6 else v for v in values)  # 7 is Sunday too


@functools.lru_cache(maxsize=64)
def _parsed(cron: str) -> tuple[frozenset[int], ...]:
    return tuple(
        _field(text, low, high) for text, (low, high) in zip(cron.split(), _RANGES, strict=True)
    )


def cron_matches(cron: str, minute: int) -> bool:
    """Does the cron expression fire at this UNIX minute (seconds // 60), UTC?"""
    minutes, hours, days, months, weekdays = _parsed(cron)
    moment = datetime.fromtimestamp(minute * 60, UTC)
    weekday = (moment.weekday() + 1) % 7  # cron: 0 = Sunday
    day_ok = moment.day in days
    weekday_ok = weekday in weekdays
    # cron's rule: when both day fields are restricted, either one matching is enough
    both_restricted = len(days) < 31 and len(weekdays) < 7
    when = (day_ok or weekday_ok) if both_restricted else (day_ok and weekday_ok)
    return moment.minute in minutes and moment.hour in hours and moment.month in months and when


@functools.lru_cache(maxsize=4096)
def _opened_at(cron: str, minutes: float, minute: int) -> int | None:
    """The newest minute at most `minutes` back at which the cron expression fired."""
    span = max(1, int(-(-minutes // 1)))  # rounded up
    return next((minute - back for back in range(span) if cron_matches(cron, minute - back)), None)


def active(window: MaintenanceWindow, at: float) -> bool:
    if window.start is not None and window.end is not None:
        return window.start.timestamp() <= at < window.end.timestamp()
    assert window.cron is not None and window.minutes is not None
    opened = _opened_at(window.cron, window.minutes, int(at // 60))
    return opened is not None and at < opened * 60 + window.minutes * 60


def in_maintenance(windows: Sequence[MaintenanceWindow], check: str, at: float) -> bool:
    """Is `check` inside one of the windows at `at` (UNIX seconds)?"""
    return any(
        active(window, at) for window in windows if not window.checks or check in window.checks
    )
