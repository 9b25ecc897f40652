"""`shipyard demo`: the quickstart works from nothing, and twice in a row."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from support.apprepo import free_port

pytestmark = pytest.mark.integration


def test_the_demo_deploys_twice_rolls_back_and_can_run_again() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="syd-", dir="/tmp"))
    workdir.chmod(0o755)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "shipyard",
        "demo",
        "--port",
        str(port),
        "--workdir",
        str(workdir),
    ]
    env = {**os.environ, "CI": "true"}
    try:
        for _ in range(2):
            result = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=180, check=False
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert "version 1.0.0" in result.stdout and "version 2.0.0" in result.stdout
            assert "warm switch" in result.stdout
            # after the rollback, version 1 is what nginx serves
            response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            assert response.headers["X-App-Version"] == "1.0.0"
    finally:
        subprocess.run([*command[:4], "--stop", "--workdir", str(workdir)], check=False, env=env)
        subprocess.run(["rm", "-rf", str(workdir)], check=False)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_the_demo_works_from_a_home_directory_only_its_owner_can_enter() -> None:
    """A fresh clone in root's home (mode 0700): nginx's workers must still reach the
    app's sockets, so the demo simply works."""
    home = Path(tempfile.mkdtemp(prefix="syh-", dir="/tmp"))
    home.chmod(0o700)
    workdir = home / "shipyard" / ".shipyard-demo"
    port = free_port()
    command = [sys.executable, "-m", "shipyard", "demo", "--port", str(port)]
    env = {**os.environ, "CI": "true"}
    try:
        result = subprocess.run(
            [*command, "--workdir", str(workdir)],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert response.status_code == 200 and response.headers["X-App-Version"] == "1.0.0"
    finally:
        stop = [*command[:4], "--stop", "--workdir", str(workdir)]
        subprocess.run(stop, check=False, env=env, capture_output=True)
        subprocess.run(["rm", "-rf", str(home)], check=False)
