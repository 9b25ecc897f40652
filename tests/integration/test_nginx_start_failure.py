"""An nginx that cannot start says why, names what holds its address, and is not retried.

Real nginx under real supervisord; the address is held by a real server
(`python3 -m http.server`) that the test starts and stops.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.localenv import served_release

pytestmark = pytest.mark.integration


@pytest.fixture
def held_port() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    holder = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port)
        yield port, holder
    finally:
        holder.terminate()
        holder.wait(timeout=10)


def _wait_listening(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"the holder never listened on {port}")


def _repo(env_dir: Path, port: int) -> AppRepo:
    return make_repo(env_dir / "repo", local_config(env_dir / "hosts", port))


def _nginx_state(env_dir: Path) -> str:
    from shipyard.host.supervisor import Supervisor
    from shipyard.plan.layout import Layout

    return Supervisor(Layout(env_dir / "hosts", "reconcile", "local")).state("nginx")


def test_an_nginx_that_cannot_bind_names_the_cause_and_the_process_holding_the_port(
    env_dir: Path, held_port: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, holder = held_port
    repo = _repo(env_dir, port)

    result = repo.shipyard("deploy", "local")

    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join((result.stdout + result.stderr).split())  # rich wraps long lines
    assert f"bind() to 127.0.0.1:{port} failed (98: Address already in use)" in said
    assert f"held by pid {holder.pid} (" in said and "http.server" in said
    assert "nginx.listen" in said  # what to do next


def test_an_nginx_that_exits_is_stopped_rather_than_restarted_behind_the_error(
    env_dir: Path, held_port: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, _ = held_port
    repo = _repo(env_dir, port)

    assert repo.shipyard("deploy", "local").returncode == 1

    # stopped, not left to supervisord, which starts an exited nginx again and again
    assert _nginx_state(env_dir) == "STOPPED"
    # nginx tries bind() five times, then says this once per start. supervisord may have
    # begun another try by the time the exit is seen: it is killed before it says it.
    error_log = env_dir / "hosts" / "reconcile" / "local" / "logs" / "nginx-error.log"
    assert error_log.read_text().count("still could not bind()") == 1


def test_once_the_port_is_free_the_next_deploy_starts_nginx_and_serves(
    env_dir: Path, held_port: tuple[int, subprocess.Popen[bytes]]
) -> None:
    port, holder = held_port
    repo = _repo(env_dir, port)
    assert repo.shipyard("deploy", "local").returncode == 1

    holder.terminate()
    holder.wait(timeout=10)
    again = repo.shipyard("deploy", "local")

    assert again.returncode == 0, again.stdout + again.stderr
    assert served_release(repo)[0] == 200
