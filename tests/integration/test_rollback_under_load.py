"""Rollbacks under load: no request fails, warm (one switch) or cold (boot, check, switch).

A client sends ~60 requests a second through nginx (keep-alive and fresh connections,
tests/support/load.py) from before the rollback until after it; every one must get a
2xx, from the new release before and from the old one after.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from support.apprepo import AppRepo
from support.load import Load
from support.localenv import TOKEN, served_release, slot_pid, url_of

pytestmark = pytest.mark.integration


def deploy_two(repo: AppRepo) -> tuple[str, str]:
    """Deploy 1.0.0 then 2.0.0; their release ids."""
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    first = served_release(repo)[1]
    assert first is not None
    second = repo.commit_version("2.0.0")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    assert served_release(repo)[1:] == (second, "2.0.0")
    return first, second


def rollback_under_load(repo: AppRepo, kind: str) -> Load:
    with Load(url_of(repo), rate=60) as load:
        load.wait_for(30)  # serving 2.0.0 under load first
        started = time.time()
        back = repo.shipyard("rollback", "local", env=TOKEN)
        ended = time.time()
        assert back.returncode == 0, back.stderr + back.stdout
        assert kind in back.stdout, back.stdout
        load.wait_for(30)  # and 1.0.0 under load after
    assert load.between(started, ended), load.report()  # the load spanned the rollback
    assert not load.failed, load.report()
    before = [s.version for s in load.samples if s.at < started]
    after = [s.version for s in load.samples if s.at > ended]
    assert set(before) == {"2.0.0"} and set(after) == {"1.0.0"}, load.report()
    return load


def test_a_warm_rollback_under_load_fails_no_request(repo: AppRepo, env_dir: Path) -> None:
    first, _second = deploy_two(repo)
    warm_pid = slot_pid(env_dir / "hosts", "blue")
    rollback_under_load(repo, "warm")
    assert served_release(repo)[1:] == (first, "1.0.0")
    assert slot_pid(env_dir / "hosts", "blue") == warm_pid  # nothing was started


def test_a_cold_rollback_under_load_fails_no_request(repo: AppRepo, env_dir: Path) -> None:
    data = yaml.safe_load(repo.config.read_text())
    data["rollback_window"] = 0  # the old slot retires at once: the rollback must boot it
    repo.write_config(data)
    repo.commit_file("shipyard.yml", repo.config.read_text(), "rollback_window 0")
    first, _second = deploy_two(repo)
    slots = json.loads(repo.shipyard("status", "local", "--json").stdout)["hosts"][0]["slots"]
    assert [s["process"] for s in slots if not s["active"]] != ["RUNNING"], slots
    rollback_under_load(repo, "cold")
    assert served_release(repo)[1:] == (first, "1.0.0")
