"""Workers (process types without HTTP) deploy with the web process, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.apprepo import AppRepo
from support.localenv import TOKEN, served_release

pytestmark = pytest.mark.integration

WORKER = """\
import os, sys, time
print("worker", os.environ["SHIPYARD_PROCESS"], "of", os.environ["SHIPYARD_RELEASE"], flush=True)
if os.path.exists("BROKEN_WORKER"):
    sys.exit("worker cannot start: BROKEN_WORKER present")
while True:
    time.sleep(1)
"""


def with_worker(repo: AppRepo, **rules: object) -> None:
    data = yaml.safe_load(repo.config.read_text())
    data["workers"] = {"queue": {"command": "python3 worker.py", "ready_after": 0.5, **rules}}
    repo.write_config(data)
    repo.commit_file("worker.py", WORKER, "add a queue worker")


def slots(repo: AppRepo) -> dict[str, dict[str, object]]:
    status = json.loads(repo.shipyard("status", "local", "--json").stdout)
    return {s["slot"]: s for s in status["hosts"][0]["slots"]}


def test_workers_follow_the_switch_one_generation_at_a_time(repo: AppRepo, env_dir: Path) -> None:
    with_worker(repo)
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    assert slots(repo)["blue"]["workers"] == {"queue": "RUNNING"}
    repo.commit_version("2.0.0")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    now = slots(repo)
    assert now["green"]["workers"] == {"queue": "RUNNING"}
    assert now["blue"]["workers"] == {"queue": "STOPPED"}  # the old generation stopped
    log = env_dir / "hosts" / "reconcile" / "local" / "logs" / "queue-green.log"
    assert "worker queue of" in log.read_text()
    # a warm rollback brings the old release's workers back with its web process
    assert repo.shipyard("rollback", "local", env=TOKEN).returncode == 0
    now = slots(repo)
    assert now["blue"]["workers"] == {"queue": "RUNNING"}
    assert now["green"]["workers"] == {"queue": "STOPPED"}


def test_a_worker_that_is_not_ready_stops_the_whole_deploy(repo: AppRepo) -> None:
    # long enough that even a slow machine sees the crashing worker die within it
    with_worker(repo, ready_after=3)
    first = repo.shipyard("deploy", "local", env=TOKEN)
    assert first.returncode == 0, first.stderr
    before = served_release(repo)
    repo.commit_file("BROKEN_WORKER", "", "break the worker")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 1
    assert "worker queue" in result.stderr and "BROKEN_WORKER present" in result.stderr
    assert served_release(repo) == before
    now = slots(repo)
    assert now["blue"]["active"] and now["blue"]["workers"] == {"queue": "RUNNING"}
    assert now["green"]["process"] != "RUNNING"


def test_a_readiness_command_decides_when_a_worker_is_ready(repo: AppRepo) -> None:
    with_worker(repo, readiness_command="test -f READY", readiness_timeout=2)
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 1
    assert "readiness command exited 1" in result.stderr
    repo.commit_file("READY", "", "ready")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
