"""A release carries how it runs, over real SSH: what runs comes from the release's own
shipyard.yml (or, deliberately and on the record, the working tree's), where from the
operator's current file; a cold rollback boots what the release ran with before."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apprepo import AppRepo, free_port, git, make_repo
from support.sshapp import host_entry, open_to_nginx, shut_down, ssh_settings, version_on
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration

Fleet = tuple[AppRepo, TestHost, TestHost, int]


@pytest.fixture
def fleet(ssh_hosts: SshFleet) -> Iterator[Fleet]:
    staging, production = ssh_hosts(2)
    open_to_nginx((staging, production))
    port = free_port()
    config: dict[str, Any] = {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 8},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "rollback_window": 0,  # the old slot stops after a deploy: a rollback is cold
        "gates": {"bandit": {"enabled": False}},
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": ssh_settings(ssh_hosts),
        "environments": {
            "staging": {"hosts": [host_entry(staging, port)]},
            "production": {
                "hosts": [host_entry(production, port)],
                "promotion": {"requires": "staging", "require_release_runtime": True},
            },
        },
    }
    work = Path(tempfile.mkdtemp(prefix="syr-", dir="/tmp"))
    repo = make_repo(work / "repo", config)
    yield repo, staging, production, port
    shut_down([(staging, "staging"), (production, "production")])
    subprocess.run(["rm", "-rf", str(work)], check=False)


def as_json(repo: AppRepo, *args: str) -> Any:
    result = repo.shipyard(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def edit_config(repo: AppRepo, change: Any) -> None:
    data = yaml.safe_load(repo.config.read_text())
    change(data)
    repo.write_config(data)


def test_production_runs_what_staging_ran_though_the_working_tree_changed_start(
    fleet: Fleet,
) -> None:
    repo, staging, production, port = fleet
    staged = repo.shipyard("deploy", "staging")
    assert staged.returncode == 0, staged.stderr
    # the promoter's checkout says otherwise (a start that this release could not run)
    edit_config(repo, lambda data: data.update(start="python3 server.py"))
    promoted = repo.shipyard("promote", "staging", "production")
    assert promoted.returncode == 0, promoted.stderr
    assert "start: working tree 'python3 server.py', release 'python3 app.py'" in promoted.stdout
    assert "running the release's own" in promoted.stdout
    assert version_on(production, port) == "1.0.0"
    release = as_json(repo, "releases", "production")[0]
    assert release["runtime"]["start"] == "python3 app.py"
    assert release["runtime_digest"] == as_json(repo, "releases", "staging")[0]["runtime_digest"]
    record = as_json(repo, "history", "production")[0]
    assert record["runtime"]["source"] == "release"
    assert record["runtime"]["differs"] == ["start"]
    shown = repo.shipyard("history", "production")
    assert "release's" in shown.stdout and record["runtime"]["digest"] in shown.stdout
    assert version_on(staging, port) == "1.0.0"


def test_a_cold_rollback_across_a_start_command_change_boots_what_the_release_ran_with(
    fleet: Fleet,
) -> None:
    repo, staging, _production, port = fleet
    assert repo.shipyard("deploy", "staging").returncode == 0
    # version 2 moves the entry point: the start command changes with it
    git(repo.path, "mv", "app.py", "server.py")
    edit_config(repo, lambda data: data.update(start="python3 server.py"))
    repo.commit_version("2.0.0")
    second = repo.shipyard("deploy", "staging")
    assert second.returncode == 0, second.stderr
    assert version_on(staging, port) == "2.0.0"

    back = repo.shipyard("rollback", "staging")
    assert back.returncode == 0, back.stderr
    assert "cold: booted, checked, switched" in back.stdout
    assert "start: working tree 'python3 server.py', release 'python3 app.py'" in back.stdout
    assert version_on(staging, port) == "1.0.0"
    record = as_json(repo, "history", "staging")[0]
    assert (record["kind"], record["outcome"]) == ("rollback", "succeeded")
    assert record["runtime"]["source"] == "recorded"


def test_a_deploy_with_the_working_tree_runtime_is_recorded_as_such_and_refused_where_required(
    fleet: Fleet,
) -> None:
    repo, staging, production, port = fleet
    first = git(repo.path, "rev-parse", "HEAD")
    edit_config(repo, lambda data: data.update(start="python3 ./app.py"))
    repo.commit_version("1.1.0")
    deployed = repo.shipyard("deploy", "staging", "--ref", first, "--runtime-from-working-tree")
    assert deployed.returncode == 0, deployed.stderr
    assert "running the working tree's" in deployed.stdout
    assert version_on(staging, port) == "1.0.0"
    assert as_json(repo, "releases", "staging")[0]["runtime"]["start"] == "python3 ./app.py"
    record = as_json(repo, "history", "staging")[0]
    assert record["runtime"]["source"] == "working-tree"
    assert record["runtime"]["differs"] == ["start"]
    assert "WORKING TREE's" in repo.shipyard("history", "staging").stdout

    # production only runs a release's own (tested) runtime
    refused = repo.shipyard(
        "hotfix", "production", "--ref", first, "--reason", "now", "--runtime-from-working-tree"
    )
    assert refused.returncode == 7, refused.stderr
    assert "promotion.require_release_runtime" in refused.stderr
    assert version_on(production, port) is None
    assert not (production.root_dir / "reconcile").exists()


def test_a_release_whose_committed_config_is_invalid_or_lacks_the_environment_is_refused(
    fleet: Fleet,
) -> None:
    repo, staging, _production, _port = fleet
    first = git(repo.path, "rev-parse", "HEAD")
    edit_config(repo, lambda data: data.update(health={"pth": "/healthz"}))
    broken = repo.commit_file("VERSION", "1.1.0\n", "a typo in shipyard.yml")
    broken_text = repo.config.read_text()
    line = next(n for n, text in enumerate(broken_text.splitlines(), 1) if "pth:" in text)
    edit_config(repo, lambda data: data.update(health={"path": "/healthz", "deadline": 8}))
    repo.commit_version("1.2.0")

    refused = repo.shipyard("deploy", "staging", "--ref", broken)
    assert refused.returncode == 2, refused.stderr
    assert f"shipyard.yml at {broken}:{line}: health.pth: unknown key" in refused.stderr
    assert not (staging.root_dir / "reconcile").exists()  # no host was touched

    # an environment the release's own file does not know
    edit_config(
        repo,
        lambda data: data["environments"].update(qa={"hosts": [host_entry(staging, free_port())]}),
    )
    repo.commit_version("1.3.0")
    missing = repo.shipyard("deploy", "qa", "--ref", first)
    assert missing.returncode == 2, missing.stderr
    assert f"shipyard.yml at {first[:12]}" in missing.stderr
    assert "no environment named 'qa'" in missing.stderr
    assert not (staging.root_dir / "reconcile").exists()
