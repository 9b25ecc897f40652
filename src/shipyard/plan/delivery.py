"""Delivery metrics from Shipyard's own deployment records (pure).

`delivery_report(history, window, ...)` turns the primary's deployment records into the
five DORA measures with their 2024 performance levels, and the team's own targets.
docs/metrics.md defines each one and names the exact records it counts; the functions
below follow it line by line.

Vocabulary (all from `protocol.common.Deployment`):

- a **change** is a record of kind deploy, promote or hotfix;
- a change **reached production** when users got it: outcome succeeded, auto-rolled-back
  or smoke-failed (both checked live traffic), or failed after its switch phase ran;
- a production change **failed** when it was rolled back automatically (auto-rolled-back,
  smoke-failed, failed after the switch), or the next record that changed what serves was
  a rollback or a hotfix;
- it **recovered** when traffic was back on a working release: at its own `finished_at`
  for the automatic cases, else at the `finished_at` of that rollback or hotfix (if it
  succeeded).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shipyard.config.metrics import DeliveryTargets
from shipyard.plan.confidence import ConfidenceTrend, Rating, confidence_trend
from shipyard.protocol.common import Deployment

DAY = 86400.0
HOUR = 3600.0
CHANGE_KINDS = ("deploy", "promote", "hotfix")
LIVE_OUTCOMES = ("succeeded", "auto-rolled-back", "smoke-failed")
AUTO_RECOVERED = ("auto-rolled-back", "smoke-failed", "failed")
PERSON_TRIGGERS = ("manual", "hotfix", "rollback")  # a person ran the command

Level = Literal["elite", "high", "medium", "low", "below low"]

# DORA, "Accelerate State of DevOps Report 2024", software delivery performance levels.
# Each row: (level, upper bound) in the measure's unit; the first bound a value is under
# (or, for frequency, over) gives its level. See docs/metrics.md for the table and why
# "medium" can never be reached for change failure rate and recovery time.
FREQUENCY_LEVELS: tuple[tuple[Level, float], ...] = (  # deployments per day, at least
    ("elite", 1.0 + 1e-9),  # on demand, multiple deploys per day
    ("high", 1 / 7),  # between once per day and once per week
    ("medium", 1 / 30),  # between once per week and once per month
    ("low", 1 / 182),  # between once per month and once every six months
)
LEAD_TIME_LEVELS: tuple[tuple[Level, float], ...] = (  # hours, under
    ("elite", 24.0),  # less than one day
    ("high", 7 * 24.0),  # between one day and one week
    ("medium", 30 * 24.0),  # between one week and one month
    ("low", 182 * 24.0),  # between one month and six months
)
FAILURE_RATE_LEVELS: tuple[tuple[Level, float], ...] = (  # share, at most
    ("elite", 0.05),
    ("high", 0.20),
    ("medium", 0.10),  # the report's medium cluster is lower than high: never reached
    ("low", 0.40),
)
RECOVERY_LEVELS: tuple[tuple[Level, float], ...] = (  # hours, under
    ("elite", 1.0),  # less than one hour
    ("high", 24.0),  # less than one day
    ("medium", 24.0),  # less than one day (as high): never reached
    ("low", 30 * 24.0),  # between one week and one month
)


@dataclass(frozen=True)
class Targets:
    """The team's own targets (config `metrics.targets`; defaults from issue 10)."""

    no_rollback_share: float = 0.95
    staged_share: float = 1.0
    emergency_minutes: float = 15.0
    uptime: float = 0.999
    deploys_per_week: float = 2.0
    recovery_minutes: float = 30.0
    confidence: float = 8.0
    hands_on_reduction: float = 0.80


@dataclass(frozen=True)
class Measure:
    """One DORA measure over the window. value None: nothing in the window to measure."""

    name: str
    value: float | None
    unit: str
    level: Level | None  # None: no value, or the report publishes no levels for it
    counted: int  # how many records the value is computed from
    records: list[str]  # their deployment ids


@dataclass(frozen=True)
class TargetResult:
    """One of the team's targets: the measured value against it."""

    name: str
    value: float | None
    unit: str
    target: float
    at_least: bool  # True: value >= target is met; False: value <= target is met
    met: bool | None  # None: nothing to measure, or it does not apply here
    counted: int


@dataclass(frozen=True)
class HandsOn:
    """Time people spent on deploys (manual commands, approvals, recoveries)."""

    total_minutes: float
    per_change_minutes: float | None
    baseline_minutes: float | None  # per change before Shipyard (config), if entered
    reduction: float | None  # 1 - per change / baseline
    counted: int


@dataclass(frozen=True)
class DeliveryReport:
    environment: str
    since: float
    until: float
    deployment_frequency: Measure
    lead_time: Measure
    change_failure_rate: Measure
    recovery_time: Measure
    rework_rate: Measure
    targets: list[TargetResult]
    hands_on: HandsOn
    confidence: ConfidenceTrend | None = None  # when the serve store's ratings are given


def level_at_least(value: float, levels: tuple[tuple[Level, float], ...]) -> Level:
    """The first level whose bound `value` reaches (frequency: more is better)."""
    return next((name for name, bound in levels if value >= bound), "below low")


def level_under(
    value: float, levels: tuple[tuple[Level, float], ...], *, inclusive: bool = False
) -> Level:
    """The first level whose bound `value` stays under (times, rates: less is better)."""
    for name, bound in levels:
        if value < bound or (inclusive and value <= bound):
            return name
    return "below low"


def reached_production(record: Deployment) -> bool:
    """A change users got (see the module docstring)."""
    if record.kind not in CHANGE_KINDS:
        return False
    return record.outcome in LIVE_OUTCOMES or (
        record.outcome == "failed" and "switch" in record.phases
    )


def changes_serving(record: Deployment) -> bool:
    """A record that changed what serves: a production change or a rollback."""
    return reached_production(record) or (
        record.kind == "rollback" and record.outcome == "succeeded"
    )


def commit_timestamp(record: Deployment) -> float | None:
    if not record.commit_time:
        return None
    try:
        return datetime.fromisoformat(record.commit_time).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Failure:
    """A production change that failed, and when (if) it recovered."""

    record: Deployment
    needed: Literal["auto-rollback", "rollback", "hotfix"]
    recovered_by: Deployment | None  # the rollback or hotfix that succeeded, if any
    recovered_at: float | None  # None: not recovered yet

    @property
    def recovery_seconds(self) -> float | None:
        if self.recovered_at is None:
            return None
        start = self.record.started_at if self.needed == "auto-rollback" else self.finished
        return max(0.0, self.recovered_at - start)

    @property
    def rolled_back(self) -> bool:
        """Went back to an earlier release (automatically or by `shipyard rollback`),
        rather than forward with a hotfix."""
        return self.needed != "hotfix"

    @property
    def finished(self) -> float:
        return self.record.finished_at or self.record.started_at


def failures(history: list[Deployment]) -> dict[str, Failure]:
    """Every failed production change in `history` (any order), by deployment id."""
    ordered = sorted(history, key=lambda d: d.started_at)
    result: dict[str, Failure] = {}
    for index, record in enumerate(ordered):
        if not reached_production(record):
            continue
        if record.outcome in AUTO_RECOVERED:
            result[record.id] = Failure(record, "auto-rollback", None, record.finished_at)
            continue
        following = next((d for d in ordered[index + 1 :] if changes_serving(d)), None)
        if following is None or following.kind not in ("rollback", "hotfix"):
            continue
        later = ordered[ordered.index(following) :]
        fixed = next(
            (d for d in later if d.kind in ("rollback", "hotfix") and d.outcome == "succeeded"),
            None,
        )
        needed: Literal["rollback", "hotfix"] = (
            "rollback" if following.kind == "rollback" else "hotfix"
        )
        result[record.id] = Failure(record, needed, fixed, fixed.finished_at if fixed else None)
    return result


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _ids(records: list[Deployment]) -> list[str]:
    return [d.id for d in records]


def hands_on_seconds(
    history: list[Deployment], window: list[Deployment], failed: dict[str, Failure]
) -> float:
    """Seconds people spent: every command a person ran (build to finish), every
    approval wait, and every failure a person recovered (failure to recovery)."""
    total = 0.0
    recovering = {f.recovered_by.id for f in failed.values() if f.recovered_by is not None}
    for record in window:
        total += record.phases.get("approval", 0.0)
        if record.trigger not in PERSON_TRIGGERS or record.finished_at is None:
            continue
        if record.id in recovering:
            continue  # counted from the failure it recovered, below
        total += record.finished_at - record.started_at + record.phases.get("build", 0.0)
    ids = {d.id for d in window}
    for failure in failed.values():
        if failure.record.id in ids and failure.recovered_by is not None:
            total += failure.recovery_seconds or 0.0
    return total


def delivery_report(
    environment: str,
    history: list[Deployment],
    *,
    since: float,
    until: float,
    targets: Targets = Targets(),
    requires_staging: bool = False,
    uptime: float | None = None,
    hands_on_baseline_minutes: float | None = None,
    ratings: list[Rating] | None = None,
) -> DeliveryReport:
    """The delivery metrics of `environment` for records started in [since, until).

    history: the primary's deployment records (any order; records outside the window
    are used only to tell whether a change in it was rolled back later).
    requires_staging: the environment takes its releases from another one
    (`promotion.requires`); otherwise the "passed staging first" target does not apply.
    uptime: from the check store (0-1), when one is given.
    ratings: the confidence ratings recorded for it (the serve store), when given.
    """
    window = [d for d in history if since <= d.started_at < until]
    window.sort(key=lambda d: d.started_at)
    days = max((until - since) / DAY, 1e-9)
    production = [d for d in window if reached_production(d)]
    failed = failures(history)
    failed_here = [d for d in production if d.id in failed]
    recovered = [failed[d.id] for d in failed_here if failed[d.id].recovered_at is not None]
    recovery_hours = [(f.recovery_seconds or 0.0) / HOUR for f in recovered]
    succeeded = [d for d in production if d.outcome == "succeeded"]
    lead_records = [d for d in succeeded if commit_timestamp(d) is not None and d.finished_at]
    lead_hours = [
        ((d.finished_at or 0.0) - (commit_timestamp(d) or 0.0)) / HOUR for d in lead_records
    ]
    hotfixes = [d for d in production if d.kind == "hotfix"]

    per_day = len(production) / days
    frequency = Measure(
        "deployment frequency",
        per_day,
        "per day",
        level_at_least(per_day, FREQUENCY_LEVELS) if production else "below low",
        len(production),
        _ids(production),
    )
    lead = _median(lead_hours)
    lead_time = Measure(
        "change lead time",
        lead,
        "hours (median)",
        level_under(lead, LEAD_TIME_LEVELS) if lead is not None else None,
        len(lead_records),
        _ids(lead_records),
    )
    rate = len(failed_here) / len(production) if production else None
    failure_rate = Measure(
        "change failure rate",
        rate,
        "share",
        level_under(rate, FAILURE_RATE_LEVELS, inclusive=True) if rate is not None else None,
        len(production),
        _ids(failed_here),
    )
    recovery = _median(recovery_hours)
    recovery_time = Measure(
        "failed deployment recovery time",
        recovery,
        "hours (median)",
        level_under(recovery, RECOVERY_LEVELS) if recovery is not None else None,
        len(recovered),
        [f.record.id for f in recovered],
    )
    rework = Measure(
        "deployment rework rate",
        len(hotfixes) / len(production) if production else None,
        "share",
        None,  # the 2024 report publishes no levels for it
        len(production),
        _ids(hotfixes),
    )

    rolled_back = [d for d in failed_here if failed[d.id].rolled_back]
    releases = [d for d in production if d.kind in CHANGE_KINDS]
    staged = [d for d in releases if _passed_staging(d)]
    emergency = [
        (
            (d.finished_at or d.started_at)
            - d.started_at
            + d.phases.get("build", 0.0)
            + d.phases.get("gates", 0.0)
        )
        / 60
        for d in hotfixes
        if d.outcome == "succeeded"
    ]
    people = hands_on_seconds(history, window, failed)
    changes = [d for d in window if d.kind in CHANGE_KINDS or d.kind == "rollback"]
    per_change = people / 60 / len(changes) if changes else None
    baseline = hands_on_baseline_minutes
    reduction = 1 - per_change / baseline if per_change is not None and baseline else None
    target_rows = [
        _target(
            "deploys without rollback",
            1 - len(rolled_back) / len(production) if production else None,
            "share",
            targets.no_rollback_share,
            len(production),
        ),
        _target(
            "production releases that passed staging first",
            len(staged) / len(releases) if releases and requires_staging else None,
            "share",
            targets.staged_share,
            len(releases) if requires_staging else 0,
        ),
        _target(
            "emergency response time (longest)",
            max(emergency) if emergency else None,
            "minutes",
            targets.emergency_minutes,
            len(emergency),
            at_least=False,
        ),
        _target("uptime", uptime, "share", targets.uptime, 1 if uptime is not None else 0),
        _target(
            "deploys per week", per_day * 7, "per week", targets.deploys_per_week, len(production)
        ),
        _target(
            "time to recover (longest)",
            max(recovery_hours) * 60 if recovery_hours else None,
            "minutes",
            targets.recovery_minutes,
            len(recovered),
            at_least=False,
        ),
        _target(
            "hands-on time reduction",
            reduction,
            "share",
            targets.hands_on_reduction,
            len(changes) if baseline else 0,
        ),
    ]
    trend = (
        confidence_trend(environment, ratings, targets.confidence) if ratings is not None else None
    )
    target_rows.append(
        _target(
            "confidence (latest month)",
            trend.latest if trend else None,
            "of 10",
            targets.confidence,
            trend.months[-1].ratings if trend and trend.months else 0,
        )
    )
    return DeliveryReport(
        environment=environment,
        since=since,
        until=until,
        deployment_frequency=frequency,
        lead_time=lead_time,
        change_failure_rate=failure_rate,
        recovery_time=recovery_time,
        rework_rate=rework,
        targets=target_rows,
        hands_on=HandsOn(
            total_minutes=people / 60,
            per_change_minutes=per_change,
            baseline_minutes=baseline,
            reduction=reduction,
            counted=len(changes),
        ),
        confidence=trend,
    )


def _passed_staging(record: Deployment) -> bool:
    """A release that ran on the required environment first, not by a forced override."""
    source = record.promoted_from
    return isinstance(source, dict) and bool(source.get("environment")) and not source.get("forced")


def _target(
    name: str,
    value: float | None,
    unit: str,
    target: float,
    counted: int,
    *,
    at_least: bool = True,
) -> TargetResult:
    met = None if value is None else (value >= target if at_least else value <= target)
    return TargetResult(name, value, unit, target, at_least, met, counted)


WINDOW_UNITS = {"m": 60.0, "h": HOUR, "d": DAY, "w": 7 * DAY}


def parse_window(text: str) -> float:
    """`30d`, `12h`, `2w`, `90m` as seconds; ValueError for anything else."""
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    if unit not in WINDOW_UNITS or not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{text!r}: give a whole number and a unit (m, h, d, w), e.g. 30d")
    return int(value) * WINDOW_UNITS[unit]


def targets_from(settings: DeliveryTargets) -> Targets:
    """The configured targets (config `metrics.targets`) as the plan's values."""
    return Targets(**settings.model_dump())
