"""`shipyard logs`: the app's log lines from the active slot or a chosen one, and `-f`."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from support.apprepo import SHIPYARD, AppRepo
from support.localenv import TOKEN, url_of

pytestmark = pytest.mark.integration


def request_marked(repo: AppRepo) -> str:
    """One request through nginx whose log line can be recognised; the marker."""
    marker = uuid.uuid4().hex[:12]
    assert httpx.get(f"{url_of(repo)}?mark={marker}", timeout=5).status_code == 200
    return marker


def host_log_processes(root: Path) -> list[str]:
    """Host-side `logs` operations on the environment under `root` still running."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"logs" in argv and any(str(root).encode() in arg for arg in argv):
                found.append(proc.name)
    return found


def test_logs_show_the_active_slot_or_the_chosen_one_with_host_and_slot(repo: AppRepo) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0  # green is active
    marker = request_marked(repo)
    deadline = time.monotonic() + 10  # the app writes its log line after answering
    while time.monotonic() < deadline:
        active = repo.shipyard("logs", "local", "-n", "200")
        assert active.returncode == 0, active.stderr
        if marker in active.stdout:
            break
        time.sleep(0.2)
    lines = active.stdout.splitlines()
    assert lines and all(line.startswith("local [green] ") for line in lines), lines
    assert any(marker in line for line in lines)
    assert any("2.0.0" in line for line in lines)  # the app's start-up line
    assert not any("1.0.0" in line for line in lines)

    blue = repo.shipyard("logs", "local", "--slot", "blue", "-n", "200")
    assert blue.returncode == 0, blue.stderr
    assert all(line.startswith("local [blue] ") for line in blue.stdout.splitlines())
    assert "1.0.0" in blue.stdout and marker not in blue.stdout

    two = repo.shipyard("logs", "local", "-n", "2").stdout.splitlines()
    assert len(two) == 2 and all(line.startswith("local [green] ") for line in two), two

    wrong = repo.shipyard("logs", "local", "--slot", "purple")
    assert wrong.returncode == 2 and "--slot must be blue or green" in wrong.stderr


def test_logs_follow_prints_new_lines_as_they_come_and_stops_cleanly(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    follower = subprocess.Popen(
        [*SHIPYARD, "logs", "local", "-f", "-n", "1", "-c", str(repo.config)],
        cwd=repo.path,
        env={**os.environ, "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert follower.stdout is not None
    stdout = follower.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()

    def wait_for(marker: str) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if marker in line:
                return line
        raise AssertionError(f"`logs -f` never printed {marker}")

    try:
        assert lines.get(timeout=30).startswith("local ")  # the last line, at once
        for _ in range(2):  # lines written after it started, one after another
            marker = request_marked(repo)
            assert wait_for(marker).startswith("local ")
        assert follower.poll() is None  # still following
        assert host_log_processes(env_dir / "hosts")  # through the host's `logs` operation
    finally:
        os.killpg(follower.pid, signal.SIGINT)  # Ctrl-C
        code = follower.wait(timeout=30)
    assert code in (0, 130, -signal.SIGINT), follower.stderr.read() if follower.stderr else ""
    stderr = follower.stderr.read() if follower.stderr else ""
    assert "Traceback" not in stderr, stderr
    # and nothing is left following the log on the host
    deadline = time.monotonic() + 10
    while host_log_processes(env_dir / "hosts") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not host_log_processes(env_dir / "hosts")
