"""Run pip-audit on the app's requirements files."""

from __future__ import annotations

import sys
from pathlib import Path

from shipyard.config.gates import PipAuditGate
from shipyard.gates.pipaudit_parse import parse_pip_audit
from shipyard.gates.process import Outcome, run_process
from shipyard.gates.result import GateResult, GateVerdict

NAME = "pip-audit"


def pip_audit_argv(
    config: PipAuditGate, requirements: list[str], python: str = sys.executable
) -> list[str]:
    """The pip-audit command line for these requirements files (paths as given)."""
    argv = [python, "-m", "pip_audit", "-f", "json", "--progress-spinner", "off"]
    for name in requirements:
        argv += ["-r", name]
    if not config.resolve:
        # a lock file pins everything: audit it as written, with no venv and no resolver
        argv += ["--no-deps", "--disable-pip"]
    argv += ["-s", config.service]
    if config.osv_url:
        argv += ["--osv-url", config.osv_url]
    argv += ["--timeout", str(max(1, min(60, int(config.timeout))))]
    return argv


def plan_requirements(app_dir: Path, config: PipAuditGate) -> tuple[list[str], GateVerdict | None]:
    """The files to audit, or the verdict when there is nothing (or nothing valid) to audit."""
    present = [name for name in config.requirements if (app_dir / name).is_file()]
    missing = [name for name in config.requirements if name not in present]
    if missing and config.requirements_given():
        return [], GateVerdict(
            "unknown",
            f"requirements file not found: {', '.join(missing)}",
            {"requirements": config.requirements, "missing": missing},
        )
    if not present:
        listed = ", ".join(config.requirements) or "none configured"
        return [], GateVerdict(
            "skipped",
            f"no requirements file to audit ({listed}); set gates.pip_audit.requirements",
            {"requirements": config.requirements},
        )
    return present, None


def verdict_from_outcome(outcome: Outcome, config: PipAuditGate) -> GateVerdict:
    if outcome.start_error is not None:
        return GateVerdict("unknown", f"pip-audit could not start: {outcome.start_error}")
    if outcome.timed_out:
        return GateVerdict(
            "unknown",
            f"pip-audit did not finish within {config.timeout:g}s",
            {"stderr_tail": outcome.stderr[-2000:]},
        )
    return parse_pip_audit(outcome.stdout, outcome.returncode, outcome.stderr, config.ignore)


def run_pip_audit(app_dir: Path, config: PipAuditGate) -> GateResult:
    requirements, early = plan_requirements(app_dir, config)
    if early is not None:
        return GateResult.from_verdict(NAME, "pip-audit", early, 0.0, config.on_unknown)
    argv = pip_audit_argv(config, requirements)
    outcome = run_process(argv, app_dir, config.timeout)
    verdict = verdict_from_outcome(outcome, config)
    details = {"requirements": requirements, "service": config.service, **verdict.details}
    return GateResult(
        name=NAME,
        kind="pip-audit",
        status=verdict.status,
        duration_s=outcome.duration_s,
        summary=verdict.summary,
        details=details,
        on_unknown=config.on_unknown,
    )
