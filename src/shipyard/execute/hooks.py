"""Run the operator-side pre/post deploy hooks.

Each hook runs with `sh -c` in a session (and so a process group) of its own, its output
in a temporary file (a child left running cannot hold a pipe open). A hook that passes
`hooks.timeout` is killed with everything it started: the whole group, SIGKILL, and
Shipyard waits until the group is gone before it reports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO

from shipyard.errors import ExitCode, ShipyardError

OUTPUT_TAIL = 2000  # characters of a failed hook's output shown
_GROUP_GONE_WAIT = 5.0  # seconds for the kernel to finish off a killed group


class HookFailed(ShipyardError):
    """A pre_deploy hook failed: nothing was deployed (exit 5). `output` is what it printed."""

    exit_code = ExitCode.BUILD

    def __init__(self, command: str, status: int, output: str, message: str = "") -> None:
        super().__init__(
            message or f"hook `{command}` exited with status {status}", "nothing was deployed"
        )
        self.command = command
        self.status = status
        self.output = output

    def details(self) -> list[str]:
        return ["output:", *(f"  | {line}" for line in self.output.splitlines())]


class HookTimedOut(HookFailed):
    """A hook ran past `hooks.timeout`; it and every process it started were killed."""

    def __init__(self, command: str, timeout: float, output: str) -> None:
        super().__init__(
            command,
            128 + signal.SIGKILL,
            output,
            f"hook `{command}` did not finish within {timeout:g}s; it and every process "
            "it started were killed",
        )
        self.hint = (
            "nothing was deployed by a pre_deploy hook that timed out; find out why it hangs "
            "(run it by hand), or raise hooks.timeout (seconds) if it needs longer"
        )


def run_hooks(
    commands: list[str], cwd: Path, variables: dict[str, str], timeout: float = 300.0
) -> None:
    """Run each hook in order, in the repository, with SHIPYARD_* variables; stop at a
    failure (HookFailed) or a hook past `timeout` seconds (HookTimedOut)."""
    env = dict(os.environ) | variables
    for command in commands:
        with tempfile.TemporaryFile() as output:
            process = subprocess.Popen(
                ["sh", "-c", command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                status = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                raise HookTimedOut(command, timeout, _tail(output)) from None
            except BaseException:  # Ctrl-C: never leave a hook running behind us
                _kill_group(process)
                raise
            if status != 0:
                raise HookFailed(command, status, _tail(output))


def _tail(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read().decode("utf-8", errors="replace")[-OUTPUT_TAIL:]


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the hook's process group, reap the hook, and wait until no process of the
    group is left (children it started included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + _GROUP_GONE_WAIT
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
