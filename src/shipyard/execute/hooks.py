"""Run the operator-side pre/post deploy hooks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shipyard.errors import ExitCode, ShipyardError


class HookFailed(ShipyardError):
    """A pre_deploy hook failed: nothing was deployed (exit 5). `output` is what it printed."""

    exit_code = ExitCode.BUILD

    def __init__(self, command: str, status: int, output: str) -> None:
        super().__init__(f"hook `{command}` exited with status {status}", "nothing was deployed")
        self.command = command
        self.status = status
        self.output = output

    def details(self) -> list[str]:
        return ["output:", *(f"  | {line}" for line in self.output.splitlines())]


def run_hooks(commands: list[str], cwd: Path, variables: dict[str, str]) -> None:
    """Run each hook in order, in the repository, with SHIPYARD_* variables; stop at a failure."""
    env = dict(os.environ) | variables
    for command in commands:
        result = subprocess.run(
            ["sh", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise HookFailed(command, result.returncode, (result.stdout + result.stderr)[-2000:])
