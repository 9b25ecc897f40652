"""One agent per host per command: over SSH, each command starts `shipyard host serve` once
on each host and sends every operation to it (the lock heartbeat is the one exception,
a one-shot `host lock-refresh`); a deploy also starts its primary's lane, a second agent
there for the live-events record, where no resident agent answers yet.

`shipyard_command` is a wrapper that records, for every SSH command Shipyard runs, the
host it ran on (the server address of SSH_CONNECTION) and its arguments.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration

WRAPPER = """#!/bin/sh
printf '%s|%s\\n' "$SSH_CONNECTION" "$*" >> {log}
exec {python} -m shipyard "$@"
"""


@pytest.fixture
def counted(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, list[TestHost], Path]]:
    hosts = ssh_hosts(2)
    for host in hosts:
        for path in [host.root_dir, *host.root_dir.parents]:
            if str(path).startswith("/tmp/"):
                path.chmod(path.stat().st_mode | 0o005)
    work = Path(tempfile.mkdtemp(prefix="sya-", dir="/tmp"))
    log = work / "invocations.log"
    wrapper = work / "counting-shipyard"
    wrapper.write_text(WRAPPER.format(log=log, python=sys.executable))
    wrapper.chmod(0o755)
    port = free_port()
    config = {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 8},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "gates": {"bandit": {"enabled": False}},
        "shipyard_command": str(wrapper),
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
                        "listen": f"{host.target.host}:{port}",
                    }
                    for host in hosts
                ]
            }
        },
    }
    repo = make_repo(work / "repo", config)
    yield repo, hosts, log
    for host in hosts:
        request = json.dumps({"root": str(host.root_dir), "app": "reconcile", "env": "production"})
        subprocess.run(
            [sys.executable, "-m", "shipyard.host", "shutdown"], input=request, text=True
        )
        subprocess.run(["rm", "-rf", str(host.root_dir / "reconcile")], check=False)
    subprocess.run(["rm", "-rf", str(work)], check=False)


def invocations(log: Path) -> list[tuple[str, str]]:
    """(host address, arguments) of every SSH command run since the last call."""
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    os.truncate(log, 0)
    found = []
    for line in lines:
        connection, _, args = line.partition("|")
        found.append((connection.split()[2], args))
    return found


def agents_per_host(log: Path, hosts: list[TestHost]) -> Counter[str]:
    runs = invocations(log)
    others = [args for _, args in runs if args not in ("host serve", "host lock-refresh")]
    assert not others, f"commands other than the agent and the heartbeat: {others}"
    counts = Counter(address for address, args in runs if args == "host serve")
    assert set(counts) <= {host.target.host for host in hosts}, counts
    return counts


@pytest.mark.timeout(240)
def test_each_command_starts_one_agent_per_host_and_sends_it_every_operation(
    counted: tuple[AppRepo, list[TestHost], Path],
) -> None:
    """The first deploy starts one agent per host (there is no resident agent yet) and
    sends it every operation, plus the primary's lane (its phase events); once supervisord
    runs the resident agent, later commands start none over SSH: every operation, and the
    lane, goes to the resident one, through the connection."""
    repo, hosts, log = counted
    addresses = {host.target.host: 1 for host in hosts}
    addresses[hosts[0].target.host] += 1  # the primary's lane

    first = repo.shipyard("deploy", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert agents_per_host(log, hosts) == addresses
    # a deploy is many operations, all answered by those two agents
    record = json.loads(repo.shipyard("history", "production", "--json").stdout)[0]
    assert {"prepare", "boot", "check", "switch", "verify"} <= set(record["phases"])
    invocations(log)  # (history's own)

    repo.commit_version("2.0.0")
    second = repo.shipyard("deploy", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    assert agents_per_host(log, hosts) == Counter()

    back = repo.shipyard("rollback", "production")
    assert back.returncode == 0, back.stdout + back.stderr
    assert agents_per_host(log, hosts) == Counter()

    status = repo.shipyard("status", "production")
    assert status.returncode == 0, status.stderr
    assert agents_per_host(log, hosts) == Counter()
