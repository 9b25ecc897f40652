"""Uptime, SLO and error budget from constructed histories; maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipyard.config.observe import MaintenanceWindow
from shipyard.plan.check_results import CheckResult
from shipyard.plan.maintenance_windows import cron_matches, in_maintenance
from shipyard.plan.uptime import uptime, uptimes

NOW = 1_000_000_000.0


def history(count: int, failed: int, maintenance: int = 0, step: float = 60.0) -> list[CheckResult]:
    results = []
    for i in range(count):
        at = NOW - i * step
        results.append(
            CheckResult(
                "prod",
                "health",
                "web1",
                at,
                ok=i >= failed,
                maintenance=failed <= i < failed + maintenance,
            )
        )
    return results


def test_uptime_is_the_share_of_counted_results_that_passed() -> None:
    got = uptime(history(1000, failed=1), NOW, "24h", 86400, 99.9)
    assert got.percent == pytest.approx(99.9)
    assert got.meets_slo is True
    assert got.budget_left == pytest.approx(0.0)


def test_maintenance_is_left_out_of_both_sides() -> None:
    got = uptime(history(1000, failed=0, maintenance=100), NOW, "24h", 86400, 99.9)
    assert (got.counted, got.failed, got.maintenance) == (1000 - 100, 0, 100)
    assert got.percent == 100.0


def test_the_error_budget_goes_negative_when_the_slo_is_broken() -> None:
    got = uptime(history(1000, failed=3), NOW, "24h", 86400, 99.9)
    assert got.percent == pytest.approx(99.7)
    assert got.budget_left == pytest.approx(-2.0)
    assert got.meets_slo is False
    assert got.allowed_downtime_seconds == pytest.approx(86.4)
    assert got.downtime_seconds == pytest.approx(86400 * 3 / 1000)


def test_each_window_counts_only_its_own_results() -> None:
    results = history(90 * 24, failed=0, step=3600)  # hourly for 90 days, all up
    results[30 * 24 + 5] = CheckResult("prod", "health", "web1", results[30 * 24 + 5].at, False)
    by_window = {u.window: (u.counted, u.failed) for u in uptimes(results, NOW, 99.9)}
    assert by_window == {"24h": (25, 0), "7d": (169, 0), "30d": (721, 0), "90d": (2160, 1)}


def test_no_results_is_no_figure_rather_than_100_percent() -> None:
    got = uptime([], NOW, "24h", 86400, 99.9)
    assert (got.percent, got.budget_left, got.meets_slo) == (None, None, None)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_weekly_cron_window_covers_its_minutes_and_no_more() -> None:
    window = MaintenanceWindow(cron="0 3 * * 0", minutes=30)  # Sundays 03:00-03:30 UTC
    assert in_maintenance([window], "health", ts("2026-12-06T03:00:00"))  # a Sunday
    assert in_maintenance([window], "health", ts("2026-12-06T03:29:59"))
    assert not in_maintenance([window], "health", ts("2026-12-06T03:30:00"))
    assert not in_maintenance([window], "health", ts("2026-12-06T02:59:59"))
    assert not in_maintenance([window], "health", ts("2026-12-07T03:10:00"))  # Monday


def test_a_one_off_window_limited_to_some_checks() -> None:
    window = MaintenanceWindow(
        start=datetime(2026, 12, 24, tzinfo=UTC),
        end=datetime(2026, 12, 24, 6, tzinfo=UTC),
        checks=["db"],
    )
    assert in_maintenance([window], "db", ts("2026-12-24T05:59:00"))
    assert not in_maintenance([window], "health", ts("2026-12-24T05:59:00"))
    assert not in_maintenance([window], "db", ts("2026-12-24T06:00:00"))


@pytest.mark.parametrize(
    ("cron", "moment", "fires"),
    [
        ("*/15 * * * *", "2026-12-02T10:45:00", True),
        ("*/15 * * * *", "2026-12-02T10:46:00", False),
        ("0 9-17 * * 1-5", "2026-12-02T12:00:00", True),  # a Wednesday
        ("0 9-17 * * 1-5", "2026-12-05T12:00:00", False),  # a Saturday
        ("30 2 1 * *", "2026-12-01T02:30:00", True),
        ("0 0 * * 7", "2026-12-06T00:00:00", True),  # 7 is Sunday too
    ],
)
def test_cron_expressions_fire_when_cron_would(cron: str, moment: str, fires: bool) -> None:
    assert cron_matches(cron, int(ts(moment) // 60)) is fires
