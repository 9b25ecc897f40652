"""Run bandit on the app's Python files."""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePosixPath

from shipyard.config.gates import BanditGate
from shipyard.gates.bandit_parse import is_excluded, parse_bandit
from shipyard.gates.process import Outcome, run_process
from shipyard.gates.result import GateResult, GateVerdict

NAME = "bandit"


def discover_sources(app_dir: Path, config: BanditGate) -> tuple[list[str], list[str]]:
    """The Python files to scan (relative to the app, sorted) and configured paths missing.

    Shipyard picks the files, not bandit, so that `exclude` means the same thing
    whatever path is scanned; directories holding a virtualenv (pyvenv.cfg) are skipped.
    """
    found: set[str] = set()
    missing: list[str] = []
    for entry in config.paths:
        start = app_dir / entry
        if start.is_file():
            relative = PurePosixPath(Path(os.path.relpath(start, app_dir)).as_posix())
            if start.suffix == ".py" and not is_excluded(relative, config.exclude):
                found.add(relative.as_posix())
            continue
        if not start.is_dir():
            missing.append(entry)
            continue
        for root, dirs, files in os.walk(start):
            here = PurePosixPath(Path(os.path.relpath(root, app_dir)).as_posix())
            dirs[:] = sorted(
                name
                for name in dirs
                if not is_excluded(here / name, config.exclude)
                and not (Path(root) / name / "pyvenv.cfg").exists()
            )
            for name in files:
                if name.endswith(".py") and not is_excluded(here / name, config.exclude):
                    found.add((here / name).as_posix())
    return sorted(found), missing


def bandit_argv(config: BanditGate, files: list[str], python: str = sys.executable) -> list[str]:
    argv = [python, "-m", "bandit", "-f", "json", "-q"]
    if config.skip:
        argv += ["-s", ",".join(config.skip)]
    return [*argv, *files]


def verdict_from_outcome(outcome: Outcome, config: BanditGate) -> GateVerdict:
    if outcome.start_error is not None:
        return GateVerdict("unknown", f"bandit could not start: {outcome.start_error}")
    if outcome.timed_out:
        return GateVerdict("unknown", f"bandit did not finish within {config.timeout:g}s")
    if outcome.returncode not in (0, 1) and "No module named bandit" in outcome.stderr:
        return GateVerdict(
            "unknown", "bandit is not installed in shipyard's Python (pip install bandit)"
        )
    return parse_bandit(
        outcome.stdout, outcome.returncode, outcome.stderr, config.severity, config.confidence
    )


def run_bandit(app_dir: Path, config: BanditGate) -> GateResult:
    files, missing = discover_sources(app_dir, config)
    early: GateVerdict | None = None
    if missing and config.paths_given():
        early = GateVerdict(
            "unknown", f"path not found: {', '.join(missing)}", {"missing": missing}
        )
    elif not files:
        early = GateVerdict(
            "skipped",
            f"no Python files under {', '.join(config.paths)}",
            {"paths": config.paths, "exclude": config.exclude},
        )
    if early is not None:
        return GateResult.from_verdict(NAME, "bandit", early, 0.0, config.on_unknown)
    outcome = run_process(bandit_argv(config, files), app_dir, config.timeout)
    verdict = verdict_from_outcome(outcome, config)
    return GateResult(
        name=NAME,
        kind="bandit",
        status=verdict.status,
        duration_s=outcome.duration_s,
        summary=verdict.summary,
        details={"paths": config.paths, "exclude": config.exclude, **verdict.details},
        on_unknown=config.on_unknown,
    )
