"""Run pip-audit on the app's requirements files.

Before pip-audit runs, one request checks that the vulnerability service answers
(`reachability`): an unreachable service makes the gate unknown after one short
timeout, not after pip-audit's retries for every package. With `cache_for`, a report
for the same lock-file digest is reused for that long (`audit_cache`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from shipyard.config.gates import PipAuditGate
from shipyard.gates import audit_cache, reachability
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


def run_pip_audit(app_dir: Path, config: PipAuditGate, cache_dir: Path | None = None) -> GateResult:
    requirements, early = plan_requirements(app_dir, config)
    if early is not None:
        return GateResult.from_verdict(NAME, "pip-audit", early, 0.0, config.on_unknown)
    started = time.monotonic()
    details: dict[str, Any] = {"requirements": requirements, "service": config.service}
    key = audit_cache.lock_digest(app_dir, requirements, config)
    cached = audit_cache.load(key, config.cache_for, cache_dir)
    if cached is not None:
        verdict = parse_pip_audit(cached.stdout, cached.returncode, cached.stderr, config.ignore)
        age = time.time() - cached.audited_at
        return _result(
            verdict,
            config,
            time.monotonic() - started,
            details | {"cached": True, "audited_at": cached.audited_at, "lock_digest": key},
            suffix=f" (report of {age:.0f}s ago for the same lock files; cache_for)",
        )
    url = reachability.service_url(config)
    problem = reachability.unreachable(url, config.connect_timeout)
    if problem is not None:
        verdict = GateVerdict(
            "unknown",
            f"the vulnerability service could not be reached: {url}: {problem} "
            f"(one attempt, connect_timeout {config.connect_timeout:g}s; pip-audit not run)",
            {"url": url, "error": problem},
        )
        return _result(verdict, config, time.monotonic() - started, details)
    argv = pip_audit_argv(config, requirements)
    outcome = run_process(argv, app_dir, config.timeout)
    verdict = verdict_from_outcome(outcome, config)
    conclusive = verdict.status in ("pass", "fail") and outcome.returncode is not None
    if conclusive and config.cache_for > 0 and outcome.returncode is not None:
        audit_cache.store(
            key,
            audit_cache.Cached(outcome.returncode, outcome.stdout, outcome.stderr, time.time()),
            cache_dir,
        )
    return _result(verdict, config, time.monotonic() - started, details | {"lock_digest": key})


def _result(
    verdict: GateVerdict,
    config: PipAuditGate,
    duration_s: float,
    details: dict[str, Any],
    suffix: str = "",
) -> GateResult:
    return GateResult(
        name=NAME,
        kind="pip-audit",
        status=verdict.status,
        duration_s=round(duration_s, 3),
        summary=verdict.summary + suffix,
        details={**details, **verdict.details},
        on_unknown=config.on_unknown,
    )
