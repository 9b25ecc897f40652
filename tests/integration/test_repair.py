"""After every process of an environment dies (a host restart), `repair` brings it back."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from support.apprepo import AppRepo
from support.localenv import TOKEN, served_release

pytestmark = pytest.mark.integration


def processes_under(base: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(base) in cmdline or cwd.startswith(str(base)):
            found.append(int(proc.name))
    return found


def kill_everything_under(base: Path) -> None:
    for _ in range(5):
        pids = processes_under(base)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    raise AssertionError(f"processes survived: {processes_under(base)}")


def test_repair_after_a_host_restart_brings_back_exactly_the_active_release(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    base = env_dir / "hosts" / "reconcile" / "local"
    kill_everything_under(base)
    with pytest.raises(httpx.ConnectError):
        served_release(repo)
    result = repo.shipyard("repair", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    assert "started supervisord" in result.stdout and "started the active slot" in result.stdout
    assert served_release(repo) == before
    status = json.loads(repo.shipyard("status", "local", "--json").stdout)
    active = [s for s in status["hosts"][0]["slots"] if s["active"]]
    assert active[0]["process"] == "RUNNING" and active[0]["release_id"] == before[1]
    # and a second repair has nothing left to do
    again = repo.shipyard("repair", "local", env=TOKEN)
    assert "nothing to do" in again.stdout


def test_a_deploy_killed_after_boot_is_converged_by_the_next_deploy(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    repo.commit_version("2.0.0")
    killed = repo.shipyard("deploy", "local", env=TOKEN, kill_after="check")
    assert killed.returncode == -signal.SIGKILL
    assert served_release(repo) == before  # nothing switched
    status = json.loads(repo.shipyard("status", "local", "--json").stdout)
    assert status["lock"]["stale"] is True
    assert status["hosts"][0]["running_deployments"]
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    assert "took over a stale lock" in result.stdout
    assert "interrupted" in result.stdout
    history = json.loads(repo.shipyard("history", "local", "--json").stdout)
    assert [h["outcome"] for h in history][:2] == ["succeeded", "interrupted"]
    assert served_release(repo)[2] == "2.0.0"
