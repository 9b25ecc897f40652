"""Where a command's time goes: `SHIPYARD_TIMING=1` prints timed marks to stderr.

Each mark is the time since the process started (read from /proc, so Python's own
start-up counts), then what happened: `[timing 0.412s] op switch 0.018s`. Off by
default, and then a mark costs one check of a module-level flag. For people and the
benchmarks (bench/startup.py); nothing depends on the output.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

ENV_VAR = "SHIPYARD_TIMING"
enabled = os.environ.get(ENV_VAR, "").strip() not in ("", "0")


def _process_start() -> float:
    """The process's start on the monotonic clock (Linux: /proc/self/stat), else now."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.monotonic() - (time.clock_gettime(time.CLOCK_BOOTTIME) - started_after_boot)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


_started = _process_start() if enabled else 0.0


def since_start() -> float:
    return time.monotonic() - _started


def mark(what: str) -> None:
    if enabled:
        sys.stderr.write(f"[timing {since_start():7.3f}s] {what}\n")
        sys.stderr.flush()


@contextmanager
def span(what: str) -> Iterator[None]:
    """Mark the end of `what` with its duration."""
    if not enabled:
        yield
        return
    started = time.monotonic()
    try:
        yield
    finally:
        mark(f"{what} {time.monotonic() - started:.3f}s")
