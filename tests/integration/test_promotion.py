"""Staging to production over real SSH: promotion, refusal, force, approval, hotfix, smoke."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.sshapp import host_entry, open_to_nginx, shut_down, ssh_settings, version_on
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, TestHost, TestHost, int]]:
    staging, production = ssh_hosts(2)
    open_to_nginx((staging, production))
    port = free_port()
    config: dict[str, Any] = {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 8},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": ssh_settings(ssh_hosts),
        "smoke_tests": {
            "http": [{"path": "/api/sample", "status": 200, "json_path": "days", "equals": 3}]
        },
        "environments": {
            "staging": {"hosts": [host_entry(staging, port)]},
            "production": {
                "hosts": [host_entry(production, port)],
                "promotion": {"requires": "staging"},
            },
        },
    }
    work = Path(tempfile.mkdtemp(prefix="syp-", dir="/tmp"))
    repo = make_repo(work / "repo", config)
    yield repo, staging, production, port
    shut_down([(staging, "staging"), (production, "production")])
    subprocess.run(["rm", "-rf", str(work)], check=False)


def releases(repo: AppRepo, env: str) -> list[dict[str, Any]]:
    return json.loads(repo.shipyard("releases", env, "--json").stdout)


def test_production_takes_only_what_passed_staging_and_gets_the_identical_artifact(
    pipeline: tuple[AppRepo, TestHost, TestHost, int],
) -> None:
    repo, _staging, production, port = pipeline
    # straight to production: refused, nothing touched
    direct = repo.shipyard("deploy", "production")
    assert direct.returncode == 7, direct.stderr
    assert (
        "has not passed staging" in direct.stderr and "never deployed to staging" in direct.stderr
    )
    assert version_on(production, port) is None

    staged = repo.shipyard("deploy", "staging")
    assert staged.returncode == 0, staged.stderr
    promoted = repo.shipyard("promote", "staging", "production")
    assert promoted.returncode == 0, promoted.stderr
    assert version_on(production, port) == "1.0.0"
    stage_release, prod_release = releases(repo, "staging")[0], releases(repo, "production")[0]
    assert prod_release["release_id"] == stage_release["release_id"]
    assert prod_release["digest"] == stage_release["digest"]  # the identical artifact

    history = json.loads(repo.shipyard("history", "production", "--json").stdout)
    record = history[0]
    assert record["kind"] == "promote" and record["outcome"] == "succeeded"
    # lead time: commit time, when it reached staging, when it reached production
    assert record["commit_time"] and record["promoted_from"]["environment"] == "staging"
    assert record["promoted_from"]["reached_at"] <= record["finished_at"]
    assert record["checks"]["passed"] is True  # smoke tests ran after the switch


def test_a_release_that_failed_staging_is_refused_unless_forced_with_a_reason(
    pipeline: tuple[AppRepo, TestHost, TestHost, int],
) -> None:
    repo, staging, _production, port = pipeline
    assert repo.shipyard("deploy", "staging").returncode == 0
    # version 2 breaks the smoke test (the sample's `days` changes) and fails on staging
    app = (repo.path / "reconcile_core.py").read_text()
    repo.commit_file("reconcile_core.py", app.replace("DEFAULT_DAYS = 3", "DEFAULT_DAYS = 4"), "v2")
    failed = repo.shipyard("deploy", "staging")
    assert failed.returncode == 1 and "smoke tests failed" in failed.stderr
    assert "days" in failed.stderr  # the check that failed is named
    assert version_on(staging, port) == "1.0.0"  # switched back
    bad = releases(repo, "staging")[0]
    assert bad["status"] == "bad"

    refused = repo.shipyard("promote", "staging", "production", bad["release_id"])
    assert refused.returncode == 7 and "refuses release" in refused.stderr
    no_reason = repo.shipyard("promote", "staging", "production", bad["release_id"], "--force")
    assert no_reason.returncode == 7 and "--reason" in no_reason.stderr
    forced = repo.shipyard(
        "promote",
        "staging",
        "production",
        bad["release_id"],
        "--force",
        "--reason",
        "vendor said so",
    )
    # forced through the promotion rule; production's own smoke tests still judge it
    assert forced.returncode == 1, forced.stderr
    assert "refuses release" not in forced.stderr and "smoke tests failed" in forced.stderr
    record = json.loads(repo.shipyard("history", "production", "--json").stdout)[0]
    assert (record["kind"], record["outcome"]) == ("promote", "failed")
    assert record["release_id"] == bad["release_id"]
    assert record["promoted_from"]["forced"] is True
    assert record["promoted_from"]["reason"] == "vendor said so"


def test_approval_is_waited_for_and_recorded(
    pipeline: tuple[AppRepo, TestHost, TestHost, int],
) -> None:
    import yaml

    repo, _staging, production, port = pipeline
    data = yaml.safe_load(repo.config.read_text())
    data["environments"]["production"]["promotion"] |= {"approval": True, "approval_timeout": 1}
    repo.write_config(data)
    repo.commit_version("1.1.0")
    assert repo.shipyard("deploy", "staging").returncode == 0
    release = releases(repo, "staging")[0]["release_id"]
    waited = repo.shipyard("promote", "staging", "production")
    assert waited.returncode == 7 and f"shipyard approve production {release}" in waited.stderr
    assert version_on(production, port) is None
    approved = repo.shipyard(
        "approve", "production", release, "--note", "looks good", env={"SHIPYARD_ACTOR": "ana"}
    )
    assert approved.returncode == 0 and "by ana" in approved.stdout
    # recorded on production's primary, where any later deploy (from any machine) reads it
    request = {"root": str(production.root_dir), "app": "reconcile", "env": "production"}
    listed = subprocess.run(
        [sys.executable, "-m", "shipyard.host", "approval-list"],
        input=json.dumps(request | {"release_id": release}),
        capture_output=True,
        text=True,
        check=True,
    )
    reply = json.loads(listed.stdout)
    assert [(a["release_id"], a["actor"], a["note"]) for a in reply["approvals"]] == [
        (release, "ana", "looks good")
    ]
    promoted = repo.shipyard("promote", "staging", "production")
    assert promoted.returncode == 0, promoted.stderr
    assert "waiting" not in promoted.stdout + promoted.stderr  # the recorded one was used
    assert version_on(production, port) == "1.1.0"


def test_the_hotfix_lane_skips_staging_but_not_the_health_check(
    pipeline: tuple[AppRepo, TestHost, TestHost, int],
) -> None:
    repo, staging, production, port = pipeline
    fix = repo.commit_version("1.0.1")
    no_reason = repo.shipyard("hotfix", "production", "--ref", fix, "--reason", " ")
    assert no_reason.returncode == 2
    done = repo.shipyard("hotfix", "production", "--ref", fix, "--reason", "payments failing")
    assert done.returncode == 0, done.stderr
    assert version_on(production, port) == "1.0.1" and version_on(staging, port) is None
    record = json.loads(repo.shipyard("history", "production", "--json").stdout)[0]
    assert (record["kind"], record["trigger"], record["message"]) == (
        "hotfix",
        "hotfix",
        "payments failing",
    )
    # a broken hotfix is still stopped by the health check
    broken = repo.commit_file("app.py", "raise SystemExit('broken fix')\n", "broken fix")
    result = repo.shipyard("hotfix", "production", "--ref", broken, "--reason", "try again")
    assert result.returncode == 1 and "never became healthy" in result.stderr
    assert version_on(production, port) == "1.0.1"
