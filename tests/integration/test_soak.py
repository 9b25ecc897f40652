"""Soak time end to end: production takes a release only once it has been live on
staging for `promotion.soak` seconds (two local environments, real nginx and supervisord).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.localenv import shutdown

pytestmark = pytest.mark.integration

SOAK = 20.0  # long enough that the refusals below come in time on a busy machine


@pytest.fixture
def pipeline(env_dir: Path) -> Iterator[tuple[AppRepo, dict[str, int]]]:
    ports = {"staging": free_port(), "production": free_port()}
    config = local_config(env_dir / "unused", ports["staging"])
    config["environments"] = {
        name: {
            "hosts": ["local"],
            "root": str(env_dir / name),
            "nginx": {"listen": f"127.0.0.1:{port}"},
        }
        for name, port in ports.items()
    }
    config["environments"]["production"]["promotion"] = {"requires": "staging", "soak": SOAK}
    yield make_repo(env_dir / "repo", config), ports
    for name in ports:
        shutdown(env_dir / name, name)


def version_on(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).headers.get("X-App-Version")
    except httpx.ConnectError:
        return None


def history(repo: AppRepo, env: str) -> list[dict[str, Any]]:
    result = repo.shipyard("history", env, "--json")
    assert result.returncode == 0, result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


def test_production_refuses_a_release_until_it_has_soaked_on_staging(
    pipeline: tuple[AppRepo, dict[str, int]], env_dir: Path
) -> None:
    repo, ports = pipeline
    staged = repo.shipyard("deploy", "staging")
    assert staged.returncode == 0, staged.stderr
    reached = history(repo, "staging")[0]["finished_at"]

    for command in (("promote", "staging", "production"), ("deploy", "production")):
        early = repo.shipyard(*command)
        assert early.returncode == 7, early.stdout + early.stderr
        assert "has soaked on staging for" in early.stderr, early.stderr
        assert f"of the {SOAK:.0f}s required" in early.stderr
    assert version_on(ports["production"]) is None
    assert not (env_dir / "production" / "reconcile" / "production" / "releases").exists()

    # once the release has been live on staging for the soak time (by staging's record)
    while time.time() < reached + SOAK + 0.5:
        time.sleep(0.2)
    promoted = repo.shipyard("promote", "staging", "production")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert version_on(ports["production"]) == "1.0.0"
    record = history(repo, "production")[0]
    assert (record["kind"], record["outcome"]) == ("promote", "succeeded")
    evidence = record["promoted_from"]
    assert evidence["environment"] == "staging" and evidence["reached_at"] == reached
    assert evidence["live_for_seconds"] >= SOAK


def test_without_soak_the_same_release_is_taken_at_once(
    pipeline: tuple[AppRepo, dict[str, int]],
) -> None:
    # the refusal above comes from the soak time, not from anything else in the setup
    repo, ports = pipeline
    data = yaml.safe_load(repo.config.read_text())
    data["environments"]["production"]["promotion"]["soak"] = 0
    repo.write_config(data)
    repo.commit_version("1.0.1")
    assert repo.shipyard("deploy", "staging").returncode == 0
    promoted = repo.shipyard("promote", "staging", "production")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert version_on(ports["production"]) == "1.0.1"
