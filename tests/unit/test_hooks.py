"""Operator-side hooks: a timeout kills the hook and everything it started (item 11)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard.config.model import Hooks
from shipyard.execute.hooks import HookFailed, HookTimedOut, run_hooks


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


def test_a_hook_past_its_timeout_is_killed_with_the_child_that_would_outlive_it(
    tmp_path: Path,
) -> None:
    hook = "echo started; sleep 600 & echo $! > child.pid; wait"
    with pytest.raises(HookTimedOut) as caught:
        run_hooks([hook], tmp_path, {}, timeout=0.5)
    child = int((tmp_path / "child.pid").read_text())
    assert not alive(child)
    error = caught.value
    assert error.message == (
        f"hook `{hook}` did not finish within 0.5s; it and every process it started were killed"
    )
    assert "raise hooks.timeout" in error.hint
    assert "started" in error.output


def test_a_hook_that_leaves_a_background_child_does_not_keep_the_deploy_waiting(
    tmp_path: Path,
) -> None:
    hook = "sleep 600 & echo $! > child.pid"  # the child holds no pipe of ours
    run_hooks([hook], tmp_path, {}, timeout=60)
    child = int((tmp_path / "child.pid").read_text())
    assert alive(child)
    os.kill(child, 9)


def test_a_failing_hook_reports_its_status_and_output_and_stops_the_rest(
    tmp_path: Path,
) -> None:
    with pytest.raises(HookFailed) as caught:
        run_hooks(
            ["echo one $SHIPYARD_ENV", "echo oops >&2; exit 3", "touch never"],
            tmp_path,
            {"SHIPYARD_ENV": "staging"},
        )
    assert caught.value.message == "hook `echo oops >&2; exit 3` exited with status 3"
    assert caught.value.output == "oops\n"
    assert not (tmp_path / "never").exists()


def test_the_hook_timeout_defaults_to_five_minutes_and_must_be_positive() -> None:
    assert Hooks().timeout == 300
    with pytest.raises(ValueError, match="greater than 0"):
        Hooks(timeout=0)
