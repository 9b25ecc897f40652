"""Run a configured gate command (tests, lint, type check) in the app directory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from shipyard.config.gates import GateCommand
from shipyard.gates.process import Outcome, last_line, run_process, tail
from shipyard.gates.result import GateResult, GateVerdict

# sh's statuses for "not found" and "found but not executable": the check never ran
CANNOT_RUN = {126: "not executable", 127: "command not found"}


def command_verdict(command: GateCommand, outcome: Outcome) -> GateVerdict:
    """Pure: exit 0 passes, another exit status fails; anything else is unknown."""
    output = tail(outcome.stdout)
    details = {"command": command.run, "exit_status": outcome.returncode, "output_tail": output}
    if outcome.start_error is not None:
        return GateVerdict("unknown", f"could not start: {outcome.start_error}", details)
    if outcome.timed_out:
        return GateVerdict("unknown", f"did not finish within {command.timeout:g}s", details)
    status = outcome.returncode
    assert status is not None
    if status == 0:
        return GateVerdict("pass", last_line(output) or "exit status 0", details)
    if status < 0:
        return GateVerdict("unknown", f"killed by signal {-status}", details)
    if status in CANNOT_RUN:
        return GateVerdict(
            "unknown", f"could not run ({CANNOT_RUN[status]}): {last_line(output)}", details
        )
    return GateVerdict("fail", f"exit status {status}: {last_line(output) or 'no output'}", details)


def run_command(
    app_dir: Path, command: GateCommand, variables: Mapping[str, str] | None = None
) -> GateResult:
    env = dict(os.environ) | dict(variables or {})
    outcome = run_process(["sh", "-c", command.run], app_dir, command.timeout, env, True)
    return GateResult.from_verdict(
        command.name,
        "command",
        command_verdict(command, outcome),
        outcome.duration_s,
        command.on_unknown,
    )
