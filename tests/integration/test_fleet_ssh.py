"""A fleet of ten real SSH hosts (each its own sshd, nginx and supervisord on its own
loopback address): deploy and rollback reach every host, and a rolling deploy whose
second batch fails its health check puts the first batch back on the old release.

One fleet and one first deploy per module (the CI budget): each test starts and ends
with release 1.0.0 serving on every host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.apprepo import AppRepo, free_port, git, make_repo
from support.sshapp import host_entry, open_to_nginx, shut_down, ssh_settings
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration

FLEET = 10


def fleet_config(fleet: SshFleet, hosts: list[TestHost], port: int) -> dict[str, Any]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        # ten apps booting at once on two shared cores: a generous upper bound
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 30},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "gates": {"bandit": {"enabled": False}},
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": ssh_settings(fleet),
        "environments": {"production": {"hosts": [host_entry(host, port) for host in hosts]}},
    }


@pytest.fixture(scope="module")
def fleet(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, list[TestHost], int]]:
    """Ten hosts serving release 1.0.0 (deployed once for the module)."""
    hosts = ssh_hosts(FLEET)
    open_to_nginx(hosts)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="syf-", dir="/tmp"))
    repo = make_repo(work / "repo", fleet_config(ssh_hosts, hosts, port))
    try:
        first = repo.shipyard("deploy", "production")
        assert first.returncode == 0, first.stdout + first.stderr
        yield repo, hosts, port
    finally:
        shut_down([(host, "production") for host in hosts], remove=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)


def versions(hosts: list[TestHost], port: int) -> list[str | None]:
    answers = []
    for host in hosts:
        response = httpx.get(f"http://{host.target.host}:{port}/healthz", timeout=5)
        answers.append(response.headers.get("X-App-Version") if response.is_success else None)
    return answers


def test_a_deploy_and_a_rollback_reach_every_one_of_ten_ssh_hosts(
    fleet: tuple[AppRepo, list[TestHost], int],
) -> None:
    repo, hosts, port = fleet
    assert versions(hosts, port) == ["1.0.0"] * FLEET
    repo.commit_version("2.0.0")
    deployed = repo.shipyard("deploy", "production")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert versions(hosts, port) == ["2.0.0"] * FLEET

    back = repo.shipyard("rollback", "production")
    assert back.returncode == 0, back.stdout + back.stderr
    assert versions(hosts, port) == ["1.0.0"] * FLEET
    history = json.loads(repo.shipyard("history", "production", "--json").stdout)
    assert history[0]["kind"] == "rollback" and history[0]["outcome"] == "succeeded"
    assert len(history[1]["hosts"]) == FLEET


def test_a_rolling_deploy_failing_health_in_its_second_batch_leaves_every_host_on_the_old_release(
    fleet: tuple[AppRepo, list[TestHost], int],
) -> None:
    repo, hosts, port = fleet
    assert versions(hosts, port) == ["1.0.0"] * FLEET
    config = json.loads(json.dumps(fleet_config_of(repo)))
    config["environments"]["production"]["rollout"] = {"batch": 2}
    # two apps boot at a time now; the broken batch fails after this deadline
    config["health"]["deadline"] = float(os.environ.get("SHIPYARD_TEST_HEALTH_DEADLINE", "8"))
    repo.write_config(config)
    # the release answers 503 on /healthz on the hosts of the second batch only
    second = [hosts[2].target.host, hosts[3].target.host]
    app = (repo.path / "app.py").read_text()
    broken = app.replace(
        "import reconcile_core as core\n",
        "import reconcile_core as core\n\n"
        f"if any(f'/{{a}}/' in os.getcwd() for a in {second!r}):\n"
        "    os.environ['RECONCILE_FAIL_HEALTH'] = '1'\n",
        1,
    )
    assert broken != app
    repo.commit_file("app.py", broken, "fail health on the second batch")
    try:
        result = repo.shipyard("deploy", "production")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "rollout: batch 2/5" in result.stdout
        # the first batch had switched; it is back, and nobody else ever moved
        assert versions(hosts, port) == ["1.0.0"] * FLEET
        history = json.loads(repo.shipyard("history", "production", "--json").stdout)
        failed = history[0]
        assert failed["outcome"] == "failed"
        assert failed["analysis"]["rollout"]["failed_batch"] == 2
        assert failed["analysis"]["rollout"]["switched_batches"] == 1
        assert failed["analysis"]["rollout"]["batches"][0] == [str(h.target) for h in hosts[:2]]
    finally:
        (repo.path / "app.py").write_text(app)
        del config["environments"]["production"]["rollout"]
        config["health"]["deadline"] = 30
        repo.write_config(config)
        git(repo.path, "commit", "-qam", "healthy again, all at once")


def fleet_config_of(repo: AppRepo) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(repo.config.read_text())
    return data
