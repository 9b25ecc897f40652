"""`shipyard parity` between a local environment and one over real SSH, and host
resources sampled over SSH (tests/support/sshd.py: a real sshd on a loopback alias)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.sshd import SshFleet, TestHost

from shipyard.config.loader import ConfigFile
from shipyard.execute import describe
from shipyard.execute.reporter import PlainReporter

pytestmark = pytest.mark.integration

SECRET_VALUE = "pa55-never-printed-93"


@pytest.fixture(scope="module")
def two_envs(ssh_hosts: SshFleet) -> Iterator[tuple[Path, TestHost, dict[str, Any]]]:
    (host,) = ssh_hosts(1)
    work = Path(tempfile.mkdtemp(prefix="syp-", dir="/tmp"))
    config: dict[str, Any] = {
        "app": "reconcile",
        "start": "python3 app.py",
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": {
            "known_hosts": str(ssh_hosts.known_hosts),
            "identity_file": str(ssh_hosts.client_key),
            "config_file": str(ssh_hosts.ssh_config),
        },
        "secrets": {"DB_PASSWORD": {"from_env": "TEST_DB_PASSWORD"}},
        "environments": {
            "staging": {"hosts": ["local"], "root": str(work / "staging")},
            "production": {"hosts": [str(host.target)], "root": str(host.root_dir)},
        },
    }
    yield work, host, config
    subprocess.run(["rm", "-rf", str(work)], check=False)


def run_parity(
    work: Path, config: dict[str, Any], *options: str
) -> subprocess.CompletedProcess[str]:
    path = work / "shipyard.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "shipyard", "parity", "staging", "production"]
    return subprocess.run(
        [*command, "-c", str(path), *options],
        env={**os.environ, "TEST_DB_PASSWORD": SECRET_VALUE},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_environments_that_differ_only_in_where_they_are_match(
    two_envs: tuple[Path, TestHost, dict[str, Any]],
) -> None:
    work, host, config = two_envs
    result = run_parity(work, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "staging and production match" in result.stdout
    data = json.loads(run_parity(work, config, "--json").stdout)
    assert data["differ"] is False
    facts = data["facts"]["production"][str(host.target)]
    assert facts["os_id"] and facts["python"] == sys.version.split()[0]
    assert facts["shipyard"] == data["facts"]["staging"]["local"]["shipyard"]
    assert set(facts["packages"]) >= {"nginx", "python3"}
    assert data["config"]["staging"]["secrets"] == ["DB_PASSWORD"]


def test_every_difference_is_listed_secrets_by_name_and_the_exit_code_says_so(
    two_envs: tuple[Path, TestHost, dict[str, Any]],
) -> None:
    work, _, base = two_envs
    config = json.loads(json.dumps(base))
    production = config["environments"]["production"]
    production["keep_releases"] = 7
    production["env"] = {"FEATURE_X": "on"}
    production["secrets"] = {
        "DB_PASSWORD": {"from_env": "TEST_DB_PASSWORD"},
        "SENTRY_DSN": {"from_env": "TEST_DB_PASSWORD"},
    }
    result = run_parity(work, config)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "differs: config keep_releases: staging 5; production 7" in out
    assert "differs: config env.FEATURE_X" in out
    assert 'production ["DB_PASSWORD", "SENTRY_DSN"]' in out
    assert "staging and production differ" in out
    assert SECRET_VALUE not in out + result.stderr


def test_resources_are_sampled_from_every_host_over_ssh(
    two_envs: tuple[Path, TestHost, dict[str, Any]],
) -> None:
    work, host, config = two_envs
    path = work / "shipyard.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = ConfigFile.load(path).environment("production")
    samples = asyncio.run(describe.resources(env, PlainReporter(stream=sys.stderr)))
    sample = samples[str(host.target)]
    assert sample.cpu_count >= 1 and sample.cpu_pct is not None
    assert sample.mem_total > sample.mem_used > 0
    assert sample.load1 >= 0 and sample.uptime_seconds > 0
    assert any(d.mount == "/" for d in sample.disks)
    assert sample.slots == []  # never deployed to: no slots to report
