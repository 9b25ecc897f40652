"""A local environment for integration tests: real nginx and supervisord, short paths."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from support.apprepo import AppRepo, free_port, local_config, make_repo


def shutdown(root: Path, env: str = "local") -> None:
    request = json.dumps({"root": str(root), "app": "reconcile", "env": env})
    subprocess.run(
        [sys.executable, "-m", "shipyard.host", "shutdown"], input=request, text=True, check=False
    )


@pytest.fixture
def env_dir() -> Iterator[Path]:
    # short path: unix socket paths are limited to 107 bytes
    path = Path(tempfile.mkdtemp(prefix="syl-", dir="/tmp"))
    path.chmod(0o755)  # nginx's workers (user nobody) must reach the sockets inside
    yield path
    shutdown(path / "hosts")
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def repo(env_dir: Path) -> AppRepo:
    port = free_port()
    config = local_config(
        env_dir / "hosts", port, secrets={"API_TOKEN": {"from_env": "TEST_TOKEN"}}
    )
    return make_repo(env_dir / "repo", config)


def url_of(repo: AppRepo) -> str:
    listen = yaml.safe_load(repo.config.read_text())["nginx"]["listen"]
    return f"http://{listen}/healthz"


def served_release(repo: AppRepo) -> tuple[int, str | None, str | None]:
    response = httpx.get(url_of(repo), timeout=5)
    return (
        response.status_code,
        response.headers.get("X-Release"),
        response.headers.get("X-App-Version"),
    )


def slot_pid(root: Path, slot: str) -> int:
    from shipyard.host.supervisor import Supervisor
    from shipyard.plan.layout import Layout

    info = Supervisor(Layout(root, "reconcile", "local")).info(f"web-{slot}")
    assert info is not None
    return int(info["pid"])


TOKEN = {"TEST_TOKEN": "s3cr3t-value-42"}
