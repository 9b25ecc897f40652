"""Run every gate in order: the configured commands, then pip-audit, then bandit.

Every gate runs even after one fails, so one run shows everything to fix; the report
passes only if each gate passed, was skipped, or is unknown with `on_unknown: warn`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.config.gates import GatesConfig, OnUnknown
from shipyard.gates.bandit import run_bandit
from shipyard.gates.command import run_command
from shipyard.gates.explain import explain
from shipyard.gates.pipaudit import run_pip_audit
from shipyard.gates.result import GateResult, GatesFailed, GatesReport, GateVerdict, Kind

if TYPE_CHECKING:
    from shipyard.config.model import Environment


SKIPPED_OPTIONAL = GateVerdict("skipped", "optional gate, skipped (--skip-optional)")


@dataclass(frozen=True)
class PlannedGate:
    name: str
    kind: Kind
    optional: bool
    on_unknown: OnUnknown
    run: Callable[[], GateResult]


def planned_gates(
    app_dir: Path, config: GatesConfig, variables: Mapping[str, str] | None = None
) -> list[PlannedGate]:
    """Each enabled gate, in the order they run."""
    plan = [
        PlannedGate(
            c.name, "command", c.optional, c.on_unknown, partial(run_command, app_dir, c, variables)
        )
        for c in config.commands
    ]
    if config.pip_audit.enabled:
        audit = config.pip_audit
        run = partial(run_pip_audit, app_dir, audit)
        plan.append(PlannedGate("pip-audit", "pip-audit", audit.optional, audit.on_unknown, run))
    if config.bandit.enabled:
        scan = config.bandit
        run = partial(run_bandit, app_dir, scan)
        plan.append(PlannedGate("bandit", "bandit", scan.optional, scan.on_unknown, run))
    return plan


def run_gates(
    app_dir: Path,
    config: GatesConfig,
    include_optional: bool = True,
    *,
    variables: Mapping[str, str] | None = None,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[GateResult], None] | None = None,
) -> GatesReport:
    """Run the gates in `app_dir` (the directory holding shipyard.yml); never raises for a
    gate's failure: read `.passed` on the report."""
    app_dir = app_dir.resolve()
    started = time.monotonic()
    results: list[GateResult] = []
    for gate in planned_gates(app_dir, config, variables):
        if gate.optional and not include_optional:
            results.append(GateResult.from_verdict(gate.name, gate.kind, SKIPPED_OPTIONAL, 0.0))
            if on_result:
                on_result(results[-1])
            continue
        if on_start:
            on_start(gate.name)
        gate_started = time.monotonic()
        try:
            result = gate.run()
        except Exception as exc:  # a bug or an OS error in running the gate: never a pass
            result = GateResult(
                name=gate.name,
                kind=gate.kind,
                status="unknown",
                duration_s=time.monotonic() - gate_started,
                summary=f"the gate crashed: {type(exc).__name__}: {exc}",
                on_unknown=gate.on_unknown,
            )
        results.append(result)
        if on_result:
            on_result(result)
    return GatesReport(results=results, duration_s=time.monotonic() - started)


class InfoReporter(Protocol):
    def info(self, message: str) -> None: ...


def result_line(result: GateResult) -> str:
    mark = {"pass": "ok", "skipped": "skipped", "fail": "FAILED", "unknown": "UNKNOWN"}[
        result.status
    ]
    if result.warning:
        mark += " (warn only)"
    return f"gate {result.name}: {mark} in {result.duration_s:.1f}s: {result.summary}"


def _report(reporter: InfoReporter, result: GateResult) -> None:
    reporter.info(result_line(result))
    if not result.ok or result.warning:
        for line in explain(result):
            reporter.info("    " + line)


def run_gates_for(
    env: Environment,
    config_path: Path,
    reporter: InfoReporter,
    *,
    include_optional: bool = True,
) -> dict[str, Any]:
    """Run ENV's gates in the app directory; return the JSON-able report if they passed.

    Raises GatesFailed (with `.report`) if any gate failed, or could not run and fails
    closed. Gate commands see SHIPYARD_ENV. Call this before anything touches a host.
    """
    report = run_gates(
        config_path.resolve().parent,
        env.gates,
        include_optional,
        variables={"SHIPYARD_ENV": env.name},
        on_result=lambda result: _report(reporter, result),
    )
    if not report.passed:
        raise GatesFailed(report)
    return report.to_json()
