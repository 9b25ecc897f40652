"""Run one gate's process with a deadline; kill its whole process group on timeout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_GRACE = 3.0


@dataclass(frozen=True)
class Outcome:
    """How a process ended. `returncode` is None when it never started or was killed."""

    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    start_error: str | None = None


def run_process(
    argv: Sequence[str],
    cwd: Path,
    timeout: float,
    env: Mapping[str, str] | None = None,
    merge_stderr: bool = False,
) -> Outcome:
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills its children
        )
    except OSError as exc:
        return Outcome(None, "", "", time.monotonic() - started, start_error=str(exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            # a descendant left its own group and still holds the pipes: stop waiting
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            proc.wait()
            out, err = b"", b""
        return Outcome(None, _text(out), _text(err), time.monotonic() - started, timed_out=True)
    return Outcome(proc.returncode, _text(out), _text(err), time.monotonic() - started)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def tail(text: str, limit: int = 4000) -> str:
    """The end of a long output, which is where tools put their verdict."""
    text = text.rstrip()
    return text if len(text) <= limit else "…" + text[-limit:]


def last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""
