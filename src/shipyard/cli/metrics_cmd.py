"""`metrics`: delivery metrics of an environment from its deployment records."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, JsonOption, load_env

if TYPE_CHECKING:
    from shipyard.plan.delivery import DeliveryReport

HISTORY_LIMIT = 100_000


def register(app: typer.Typer) -> None:
    app.command()(metrics)


def metrics(
    env_name: EnvArgument,
    since: Annotated[
        str, typer.Option("--since", help="The window, back from now: 30d, 12h, 2w, 90m.")
    ] = "30d",
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Delivery metrics from the environment's deployment records: the DORA measures
    (deployment frequency, change lead time, change failure rate, failed deployment
    recovery time, rework rate) with their 2024 levels, the team's targets, and hands-on
    time. Definitions: docs/metrics.md."""
    from shipyard.execute import queries
    from shipyard.execute.reporter import PlainReporter
    from shipyard.plan.delivery import delivery_report, parse_window, targets_from

    try:
        window = parse_window(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    env = failures.guard(lambda: load_env(config, env_name))
    history = failures.run(queries.history(env, HISTORY_LIMIT, PlainReporter(stream=sys.stderr)))
    now = time.time()
    report = delivery_report(
        env.name,
        history,
        since=now - window,
        until=now,
        targets=targets_from(env.metrics.targets),
        requires_staging=env.promotion.requires is not None,
        hands_on_baseline_minutes=env.metrics.hands_on_baseline_minutes,
    )
    if json_output:
        output.print_json(report)
    else:
        print_report(report, since)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value * 100:.1f} %"
    return f"{value:.2f} {unit}"


def print_report(report: DeliveryReport, since: str) -> None:
    measures = [
        report.deployment_frequency,
        report.lead_time,
        report.change_failure_rate,
        report.recovery_time,
        report.rework_rate,
    ]
    output.table(
        f"{report.environment}: delivery over the last {since} (DORA 2024 levels)",
        ["measure", "value", "level", "records"],
        [[m.name, _number(m.value, m.unit), m.level or "-", str(m.counted)] for m in measures],
    )
    rows = []
    for t in report.targets:
        sign = ">=" if t.at_least else "<="
        met = "-" if t.met is None else ("met" if t.met else "MISSED")
        rows.append([t.name, _number(t.value, t.unit), f"{sign} {_number(t.target, t.unit)}", met])
    output.table("team targets", ["target", "value", "target", ""], rows)
    hands = report.hands_on
    baseline = (
        f", baseline {hands.baseline_minutes:g} min per change"
        if hands.baseline_minutes
        else " (no baseline: set metrics.hands_on_baseline_minutes)"
    )
    per_change = "-" if hands.per_change_minutes is None else f"{hands.per_change_minutes:.1f}"
    output.console.print(
        f"hands-on time: {hands.total_minutes:.1f} min over {hands.counted} changes, "
        f"{per_change} min per change{baseline}",
        markup=False,
    )
