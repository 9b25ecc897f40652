"""The resident host agent under the environment's real supervisord: commands reach it
without starting an agent, and still work when it is gone. SSH: through the connection."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.localenv import TOKEN, served_release, shutdown
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration


def supervisorctl(env_dir: Path, *args: str) -> str:
    conf = env_dir / "hosts" / "reconcile" / "local" / "supervisor" / "supervisord.conf"
    done = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(conf), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def timed(repo: AppRepo, *args: str) -> subprocess.CompletedProcess[str]:
    return repo.shipyard(*args, env={**TOKEN, "SHIPYARD_TIMING": "1"})


def test_after_a_deploy_a_rollback_reaches_the_resident_agent_and_starts_none(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    socket_path = env_dir / "hosts" / "reconcile" / "local" / "run" / "agent.sock"
    assert socket_path.is_socket() and socket_path.stat().st_mode & 0o777 == 0o600
    assert "RUNNING" in supervisorctl(env_dir, "status", "agent")

    back = timed(repo, "rollback", "local")
    assert back.returncode == 0, back.stderr + back.stdout
    assert "local resident agent reached" in back.stderr
    assert "local agent started" not in back.stderr
    assert served_release(repo)[2] == "1.0.0"


def test_with_the_resident_agent_stopped_a_command_starts_its_own_and_works(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    supervisorctl(env_dir, "stop", "agent")

    back = timed(repo, "rollback", "local")
    assert back.returncode == 0, back.stderr + back.stdout
    assert "local agent started" in back.stderr
    assert served_release(repo)[2] == "1.0.0"


@pytest.fixture
def ssh_repo(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, TestHost]]:
    (host,) = ssh_hosts(1)
    for path in [host.root_dir, *host.root_dir.parents]:
        if str(path).startswith("/tmp/"):
            path.chmod(path.stat().st_mode | 0o005)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="syr-", dir="/tmp"))
    config = local_config(host.root_dir, port)
    config["shipyard_command"] = f"{sys.executable} -m shipyard"
    config["ssh"] = {
        "known_hosts": str(ssh_hosts.known_hosts),
        "identity_file": str(ssh_hosts.client_key),
        "config_file": str(ssh_hosts.ssh_config),
    }
    address = {"address": str(host.target), "listen": f"{host.target.host}:{port}"}
    config["environments"] = {"production": {"hosts": [address], "root": str(host.root_dir)}}
    yield make_repo(work / "repo", config), host
    shutdown(host.root_dir, "production")
    subprocess.run(["rm", "-rf", str(host.root_dir / "reconcile"), str(work)], check=False)


def test_over_ssh_a_rollback_reaches_the_resident_agent_through_the_connection(
    ssh_repo: tuple[AppRepo, TestHost],
) -> None:
    repo, host = ssh_repo
    assert repo.shipyard("deploy", "production").returncode == 0
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "production").returncode == 0
    back = repo.shipyard("rollback", "production", env={"SHIPYARD_TIMING": "1"})
    assert back.returncode == 0, back.stderr + back.stdout
    assert f"{host.target} resident agent reached" in back.stderr
    assert "agent started" not in back.stderr
