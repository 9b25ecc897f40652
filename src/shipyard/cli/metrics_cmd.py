"""`metrics`: delivery metrics of an environment from its deployment records."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, JsonOption, load_env

if TYPE_CHECKING:
    from shipyard.plan.capacity import EnvironmentCost
    from shipyard.plan.confidence import ConfidenceTrend
    from shipyard.plan.delivery import DeliveryReport

HISTORY_LIMIT = 100_000


def register(app: typer.Typer) -> None:
    app.command()(metrics)
    app.command()(confidence)


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
    from shipyard.plan.delivery import parse_window
    from shipyard.protocol.codec import encode

    try:
        window = parse_window(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.serve.delivery import delivery, existing_store

    env = failures.guard(lambda: load_env(config, env_name))
    history = failures.run(queries.history(env, HISTORY_LIMIT, PlainReporter(stream=sys.stderr)))
    now = time.time()
    store = failures.guard(lambda: existing_store(ShipyardConfig.load(config)))
    try:
        report, priced = delivery(env, history, store, since=now - window, until=now)
    finally:
        if store is not None:
            store.close()
    if json_output:
        output.print_json({**encode(report), "cost": encode(priced)})
    else:
        print_report(report, since)
        if priced is not None:
            print_cost(priced)


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
    if report.confidence is not None and report.confidence.months:
        print_trend(report.confidence)


def confidence(
    env_name: EnvArgument,
    score: Annotated[
        int | None,
        typer.Argument(
            metavar="[SCORE]",
            help="How confident you feel about deploying, 1 (not at all) to 10. "
            "Without it: print the monthly trend.",
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why, in a few words (stored).")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Record your 1-10 confidence in deploying ENV (in the serve store, as you: the
    SHIPYARD_ACTOR or user@host), then print the monthly trend against the target
    (`metrics.targets.confidence`, default 8)."""
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.execute.identity import actor
    from shipyard.plan.confidence import confidence_trend, valid_score
    from shipyard.serve.delivery import ratings, store_target
    from shipyard.serve.store import Store

    if score is not None and not valid_score(score):
        raise typer.BadParameter("give a whole number from 1 to 10", param_hint="SCORE")
    loaded = failures.guard(lambda: ShipyardConfig.load(config))
    env = failures.guard(lambda: loaded.file.environment(env_name))
    store = failures.guard(lambda: Store.open(store_target(loaded)))
    try:
        if score is not None:
            store.add_rating(env.name, actor(), time.time(), score, note.strip())
        trend = confidence_trend(env.name, ratings(store, env.name), env.metrics.targets.confidence)
    finally:
        store.close()
    if json_output:
        output.print_json(trend)
    else:
        if score is not None:
            output.console.print(f"recorded {score}/10 for {env.name}", markup=False)
        print_trend(trend)


def print_trend(trend: ConfidenceTrend) -> None:
    output.table(
        f"{trend.environment}: deploy confidence by month (target {trend.target:g})",
        ["month", "mean", "ratings", "people", ""],
        [
            [m.month, f"{m.mean:.1f}", str(m.ratings), str(m.people), "met" if m.met else "BELOW"]
            for m in trend.months
        ],
    )


def print_cost(priced: EnvironmentCost) -> None:
    def money(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} {priced.currency}"

    output.table(
        f"{priced.environment}: cost per month {money(priced.monthly)}, "
        f"idle capacity {money(priced.idle_monthly)}",
        ["host", "per month", "busy", "idle"],
        [
            [
                h.host,
                money(h.monthly),
                "-" if h.busy_share is None else f"{h.busy_share * 100:.0f} %",
                money(h.idle_monthly),
            ]
            for h in priced.hosts
        ],
    )
