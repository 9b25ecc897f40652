"""Replies over asyncio's 64 KiB line limit and asyncssh's 2 MiB window reach the
operator on both transports (issue 8, item 9): 120 deployments of history with long
commit messages, seeded through the real host state."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.seed import seed_history
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration

RECORDS = 120
MESSAGE_BYTES = 20_000  # so the reply is about 2.4 MiB, in one line


def assert_whole_history(repo: AppRepo, env: str) -> None:
    result = repo.shipyard("history", env, "-n", str(RECORDS), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.stdout) > 2 * 1024 * 1024
    history = json.loads(result.stdout)
    assert [h["id"] for h in history] == [f"dep-{i:04d}" for i in reversed(range(RECORDS))]


def test_a_history_reply_over_64_kib_reaches_the_operator_on_the_local_transport(
    repo: AppRepo, env_dir: Path
) -> None:
    seed_history(env_dir / "hosts", "local", RECORDS, MESSAGE_BYTES)
    assert_whole_history(repo, "local")


def test_logs_of_a_chatty_app_over_64_kib_reach_the_operator_on_the_local_transport(
    repo: AppRepo, env_dir: Path
) -> None:
    root = env_dir / "hosts"
    seed_history(root, "local", 1)  # the environment's tree exists, as after a deploy
    log = root / "reconcile" / "local" / "logs" / "web-blue.log"
    log.write_text("".join(f"request {i} " + "z" * 200 + "\n" for i in range(3000)))
    result = repo.shipyard("logs", "local", "-n", "2000")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "request " in line]
    assert len(lines) == 2000
    assert "request 1000 " in lines[0]
    assert "request 2999 " in lines[-1]


@pytest.fixture
def ssh_repo(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, TestHost]]:
    host = ssh_hosts(1)[0]
    work = Path(tempfile.mkdtemp(prefix="syr-", dir="/tmp"))
    config = {
        "app": "reconcile",
        "start": "python3 app.py",
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": {
            "known_hosts": str(ssh_hosts.known_hosts),
            "identity_file": str(ssh_hosts.client_key),
            "config_file": str(ssh_hosts.ssh_config),
        },
        "environments": {
            "production": {
                "hosts": [
                    {
                        "address": str(host.target),
                        "root": str(host.root_dir),
                        "listen": f"{host.target.host}:{free_port()}",
                    }
                ]
            }
        },
    }
    yield make_repo(work / "repo", config), host
    subprocess.run(["rm", "-rf", str(work), str(host.root_dir / "reconcile")], check=False)


def test_a_history_reply_over_64_kib_reaches_the_operator_over_ssh(
    ssh_repo: tuple[AppRepo, TestHost],
) -> None:
    repo, host = ssh_repo
    seed_history(host.root_dir, "production", RECORDS, MESSAGE_BYTES)
    assert_whole_history(repo, "production")
