"""Delivery metrics from constructed deployment histories with known answers."""

from __future__ import annotations

from typing import Any

import pytest
from support.records import deployment

from shipyard.plan.confidence import Rating
from shipyard.plan.delivery import (
    DAY,
    FAILURE_RATE_LEVELS,
    FREQUENCY_LEVELS,
    HOUR,
    delivery_report,
    failures,
    level_at_least,
    level_under,
)
from shipyard.protocol.common import Deployment

START = 1_700_000_000.0  # a Tuesday, 22:13 UTC
COMMIT_TIME = "2023-11-14T20:13:20+00:00"  # START - 2 hours


def record(number: int, at: float, **fields: Any) -> Deployment:
    """A succeeded deploy at START + `at` seconds, finishing 5 minutes later."""
    values: dict[str, Any] = {
        "id": f"d{number}",
        "started_at": START + at,
        "finished_at": START + at + 300,
        "commit_time": COMMIT_TIME,
        "phases": {"prepare": 1.0, "switch": 0.1},
    }
    values.update(fields)
    return deployment(f"r{number}", values.pop("outcome", "succeeded"), **values)


def report(history: list[Deployment], days: float = 7, **options: Any) -> Any:
    return delivery_report(
        "production", history, since=START - 3 * HOUR, until=START + days * DAY, **options
    )


def test_a_week_of_two_clean_deploys_a_day_is_elite_on_every_dora_measure() -> None:
    history = [record(n, n * DAY / 2) for n in range(14)]
    result = report(history)
    assert result.deployment_frequency.counted == 14
    assert result.deployment_frequency.value == pytest.approx(14 / (7 + 3 / 24))
    assert result.deployment_frequency.level == "elite"
    assert result.change_failure_rate.value == 0
    assert result.change_failure_rate.level == "elite"
    assert result.recovery_time.value is None
    assert result.recovery_time.level is None
    assert result.rework_rate.value == 0
    assert result.rework_rate.level is None


def test_lead_time_is_the_median_from_commit_time_to_the_deploy_finishing() -> None:
    # commits 2 h before START; deploys finish 5 min after they start
    history = [record(1, 0), record(2, 2 * HOUR), record(3, 30 * HOUR)]
    result = report(history)
    assert result.lead_time.value == pytest.approx(4 + 5 / 60)
    assert result.lead_time.level == "elite"
    assert result.lead_time.counted == 3
    slow = report([record(1, 3 * DAY)])
    assert slow.lead_time.level == "high"


def test_records_without_a_commit_time_are_left_out_of_lead_time() -> None:
    result = report([record(1, 0, commit_time=None), record(2, HOUR)])
    assert result.lead_time.counted == 1
    assert result.lead_time.records == ["d2"]


def test_a_deploy_rolled_back_later_counts_as_failed_and_recovers_when_the_rollback_ends() -> None:
    bad = record(1, 0)
    back = record(2, 600, kind="rollback", trigger="rollback", finished_at=START + 600 + 60)
    good = record(3, DAY)
    failed = failures([good, back, bad])
    assert set(failed) == {"d1"}
    assert failed["d1"].needed == "rollback"
    # the bad deploy finished at 300 s, the rollback at 660 s: six minutes
    assert failed["d1"].recovery_seconds == 360
    result = report([bad, back, good])
    assert result.change_failure_rate.value == 0.5  # two production changes, one failed
    assert result.change_failure_rate.records == ["d1"]
    assert result.recovery_time.value == pytest.approx(360 / HOUR)
    assert result.recovery_time.level == "elite"
    no_rollback = next(t for t in result.targets if t.name == "deploys without rollback")
    assert (no_rollback.value, no_rollback.met) == (0.5, False)


def test_an_automatic_rollback_is_a_failure_that_recovers_within_its_own_record() -> None:
    auto = record(1, 0, outcome="auto-rolled-back", finished_at=START + 120)
    others = [record(n, n * HOUR) for n in range(2, 6)]
    result = report([auto, *others])
    assert result.change_failure_rate.value == 0.2
    assert result.change_failure_rate.level == "high"
    assert result.recovery_time.value == pytest.approx(120 / HOUR)


def test_a_deploy_that_failed_before_its_switch_never_reached_production() -> None:
    early = record(1, 0, outcome="failed", phases={"prepare": 1.0, "boot": 2.0})
    result = report([early, record(2, HOUR)])
    assert result.deployment_frequency.counted == 1
    assert result.change_failure_rate.value == 0


def test_a_hotfix_after_a_deploy_is_rework_and_marks_the_deploy_failed() -> None:
    broken = record(1, 0)
    fix = record(
        2,
        1800,
        kind="hotfix",
        trigger="hotfix",
        finished_at=START + 1800 + 420,
        phases={"build": 60.0, "switch": 0.1},
    )
    result = report([broken, fix])
    assert result.rework_rate.value == 0.5
    assert result.rework_rate.records == ["d2"]
    assert result.change_failure_rate.records == ["d1"]
    failed = failures([broken, fix])["d1"]
    assert failed.needed == "hotfix" and not failed.rolled_back
    # recovered at the hotfix's end (2220 s) from the broken deploy's end (300 s): 32 min
    recover = next(t for t in result.targets if t.name.startswith("time to recover"))
    assert recover.value == pytest.approx(32.0)
    assert recover.met is False
    # hotfix command to serving: its build (1 min) and its record (7 min)
    emergency = next(t for t in result.targets if t.name.startswith("emergency"))
    assert emergency.value == pytest.approx(8.0)
    assert emergency.met is True
    no_rollback = next(t for t in result.targets if t.name == "deploys without rollback")
    assert no_rollback.value == 1.0


def test_deploys_per_week_and_the_staging_share_count_promotion_records() -> None:
    staged = {"environment": "staging", "deployment_id": "s1"}
    history = [
        record(1, 0, kind="promote", promoted_from=staged),
        record(2, DAY, kind="promote", promoted_from=staged | {"forced": True}),
        record(3, 2 * DAY, kind="hotfix", trigger="hotfix"),
        record(4, 3 * DAY, promoted_from=staged),
    ]
    result = report(history, days=14 - 3 / 24, requires_staging=True)
    per_week = next(t for t in result.targets if t.name == "deploys per week")
    assert per_week.value == pytest.approx(2.0)
    assert per_week.met is True
    share = next(t for t in result.targets if "staging" in t.name)
    assert share.value == 0.5
    assert share.met is False
    without = report(history, requires_staging=False)
    assert next(t for t in without.targets if "staging" in t.name).met is None


def test_uptime_is_a_target_only_when_the_check_store_gives_it() -> None:
    assert next(t for t in report([]).targets if t.name == "uptime").met is None
    given = report([], uptime=0.9995)
    assert next(t for t in given.targets if t.name == "uptime").met is True


def test_hands_on_time_counts_manual_commands_approval_waits_and_recoveries() -> None:
    manual = record(1, 0, phases={"build": 30.0, "switch": 0.1})  # 5 min + 30 s build
    ci = record(2, HOUR, trigger="ci", phases={"approval": 600.0, "switch": 0.1})
    back = record(
        3, HOUR + 900, kind="rollback", trigger="rollback", finished_at=START + HOUR + 960
    )
    # the CI deploy finished at HOUR+300, the rollback at HOUR+960: 11 min of recovery
    result = report([manual, ci, back], hands_on_baseline_minutes=30)
    hands_on = result.hands_on
    assert hands_on.total_minutes == pytest.approx(5.5 + 10 + 11)
    assert hands_on.counted == 3
    assert hands_on.per_change_minutes == pytest.approx(26.5 / 3)
    assert hands_on.reduction == pytest.approx(1 - 26.5 / 3 / 30)
    reduction = next(t for t in result.targets if t.name == "hands-on time reduction")
    assert reduction.met is False
    assert report([manual]).hands_on.reduction is None


def test_records_outside_the_window_only_decide_whether_one_inside_was_rolled_back() -> None:
    inside = record(1, 0)
    later_rollback = record(2, 8 * DAY, kind="rollback", trigger="rollback")
    result = report([inside, later_rollback])
    assert result.deployment_frequency.counted == 1
    assert result.change_failure_rate.value == 1.0


def test_level_tables_follow_the_2024_report() -> None:
    assert level_at_least(1.5, FREQUENCY_LEVELS) == "elite"
    assert level_at_least(1.0, FREQUENCY_LEVELS) == "high"  # once a day: high
    assert level_at_least(1 / 10, FREQUENCY_LEVELS) == "medium"
    assert level_at_least(1 / 60, FREQUENCY_LEVELS) == "low"
    assert level_at_least(1 / 365, FREQUENCY_LEVELS) == "below low"
    assert level_under(0.05, FAILURE_RATE_LEVELS, inclusive=True) == "elite"
    assert level_under(0.15, FAILURE_RATE_LEVELS, inclusive=True) == "high"
    assert level_under(0.30, FAILURE_RATE_LEVELS, inclusive=True) == "low"
    assert level_under(0.50, FAILURE_RATE_LEVELS, inclusive=True) == "below low"


def test_the_confidence_target_is_the_latest_months_mean_when_ratings_are_given() -> None:
    ratings = [Rating("ana", START, 9), Rating("bo", START + HOUR, 8)]
    result = report([], ratings=ratings)
    confidence = next(t for t in result.targets if t.name.startswith("confidence"))
    assert (confidence.value, confidence.met, confidence.counted) == (8.5, True, 2)
    assert result.confidence is not None and result.confidence.months[0].month == "2023-11"
    assert next(t for t in report([]).targets if t.name.startswith("confidence")).met is None
