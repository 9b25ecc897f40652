"""Run a build or release command in a release, with the deploy's variables, to a log."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shipyard.host.errors import HostOpError
from shipyard.host.supervisor import tail
from shipyard.plan.layout import Layout

LOG_TAIL = 50


def run_step(
    layout: Layout,
    name: str,
    command: str,
    cwd: Path,
    release_id: str,
    timeout: float,
    env_values: dict[str, str],
) -> None:
    """Run `command` with `sh -c` in `cwd`; a non-zero exit or a timeout is a HostOpError
    with the log's last lines."""
    env = step_env(layout, release_id, env_values)
    log = layout.logs / f"{name}-{release_id}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as out:
        try:
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            code: int | None = result.returncode
        except subprocess.TimeoutExpired:
            code = None
    if code != 0:
        why = f"timed out after {timeout:g}s" if code is None else f"exited with status {code}"
        raise HostOpError(
            f"{name} command {why}: {command}",
            hint=f"full output in {log}",
            log_tail=tail(log, LOG_TAIL),
        )


def step_env(layout: Layout, release_id: str, env_values: dict[str, str]) -> dict[str, str]:
    """The environment of a build, release or key command."""
    env = dict(os.environ) | env_values
    return env | {"SHIPYARD_RELEASE": release_id, "SHIPYARD_ENV": layout.env}


def command_output(
    layout: Layout,
    name: str,
    command: str,
    cwd: Path,
    release_id: str,
    timeout: float,
    env_values: dict[str, str],
) -> bytes:
    """Run `command` with `sh -c` in `cwd` and return its output (stdout then stderr); a
    non-zero exit or a timeout is a HostOpError."""
    try:
        result = subprocess.run(
            ["sh", "-c", command],
            cwd=cwd,
            env=step_env(layout, release_id, env_values),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HostOpError(
            f"{name} command timed out after {timeout:g}s: {command}",
            hint="make it finish quickly (it runs on every deploy), or raise its timeout",
        ) from None
    if result.returncode != 0:
        tail_lines = (result.stdout + result.stderr).decode(errors="replace").splitlines()
        raise HostOpError(
            f"{name} command exited with status {result.returncode}: {command}",
            hint="it runs on the host, in the new release, before the build; fix it or "
            "remove it from the configuration",
            log_tail=tail_lines[-LOG_TAIL:],
        )
    return result.stdout + result.stderr
