"""Deploys over real SSH to two test hosts, each with its own sshd, nginx and supervisord."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.sshapp import host_entry, open_to_nginx, shut_down, ssh_settings
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration


def ssh_config(fleet: SshFleet, hosts: list[TestHost], port: int) -> dict[str, object]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 8},
        "drain_timeout": 2,
        "observe": {"window": 1, "interval": 0.5},
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": ssh_settings(fleet),
        "environments": {"production": {"hosts": [host_entry(host, port) for host in hosts]}},
    }


@pytest.fixture
def fleet_repo(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, list[TestHost], int]]:
    hosts = ssh_hosts(2)
    open_to_nginx(hosts)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="sys-", dir="/tmp"))
    repo = make_repo(work / "repo", ssh_config(ssh_hosts, hosts, port))
    yield repo, hosts, port
    shut_down([(host, "production") for host in hosts])
    subprocess.run(["rm", "-rf", str(work)], check=False)


def served(host: TestHost, port: int) -> tuple[int, str | None]:
    response = httpx.get(f"http://{host.target.host}:{port}/healthz", timeout=5)
    return response.status_code, response.headers.get("X-App-Version")


def test_a_fleet_deploys_over_ssh_and_rolls_back_on_every_host(
    fleet_repo: tuple[AppRepo, list[TestHost], int],
) -> None:
    repo, hosts, port = fleet_repo
    first = repo.shipyard("deploy", "production")
    assert first.returncode == 0, first.stderr + first.stdout
    assert all(served(h, port) == (200, "1.0.0") for h in hosts)
    # every host shows up in the per-host progress
    assert all(str(h.target) in first.stdout for h in hosts)

    repo.commit_version("2.0.0")
    second = repo.shipyard("deploy", "production")
    assert second.returncode == 0, second.stderr
    assert all(served(h, port) == (200, "2.0.0") for h in hosts)

    back = repo.shipyard("rollback", "production")
    assert back.returncode == 0, back.stderr
    assert all(served(h, port) == (200, "1.0.0") for h in hosts)

    # history lives on the primary host, not on this machine
    history = json.loads(repo.shipyard("history", "production", "--json").stdout)
    assert [h["kind"] for h in history] == ["rollback", "deploy", "deploy"]
    assert history[1]["hosts"] == [str(h.target) for h in hosts]
    primary_db = hosts[0].root_dir / "reconcile" / "production" / "state.db"
    assert primary_db.exists()


def test_a_host_failing_its_check_aborts_the_fleet_and_nobody_switches(
    fleet_repo: tuple[AppRepo, list[TestHost], int],
) -> None:
    repo, hosts, port = fleet_repo
    assert repo.shipyard("deploy", "production").returncode == 0
    # break the app on the second host only: its release dir gets a failing health flag
    repo.commit_file(
        "app.py",
        (repo.path / "app.py")
        .read_text()
        .replace(
            "def main(",
            "import os as _os\nif '/"
            + hosts[1].target.host
            + "/' in _os.getcwd():\n    raise SystemExit('broken on this host')\n\n\ndef main(",
            1,
        ),
        "break host two",
    )
    result = repo.shipyard("deploy", "production")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "broken on this host" in result.stderr
    assert all(served(h, port) == (200, "1.0.0") for h in hosts)


def test_an_unknown_host_key_is_refused_before_anything_happens(
    fleet_repo: tuple[AppRepo, list[TestHost], int], tmp_path: Path
) -> None:
    repo, hosts, _ = fleet_repo
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    data["ssh"]["known_hosts"] = str(empty)
    repo.write_config(data)
    repo.commit_version("1.0.1")
    result = repo.shipyard("deploy", "production")
    assert result.returncode == 4, result.stderr
    assert "host key" in result.stderr.lower()
    assert not (hosts[0].root_dir / "reconcile" / "production" / "releases").exists()
