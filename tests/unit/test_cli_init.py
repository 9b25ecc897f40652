"""`shipyard init`: a config that validates, and GitHub workflows that refuse to clobber."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml


def shipyard(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true", "SECRET_KEY": "x"},
        timeout=60,
        check=False,
    )


def test_init_writes_a_config_that_validates_and_ignores_local_hosts(tmp_path: Path) -> None:
    result = shipyard(tmp_path, "init", "--app", "books")
    assert result.returncode == 0, result.stderr
    assert shipyard(tmp_path, "config", "check").returncode == 0
    assert ".shipyard/" in (tmp_path / ".gitignore").read_text().splitlines()
    again = shipyard(tmp_path, "init")
    assert again.returncode == 2 and "--force" in again.stderr


def test_init_github_writes_the_workflows_once(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert shipyard(tmp_path, "init", "--app", "books").returncode == 0
    config = yaml.safe_load((tmp_path / "shipyard.yml").read_text())
    del config["environments"]["local"]
    (tmp_path / "shipyard.yml").write_text(yaml.safe_dump(config))
    result = shipyard(tmp_path, "init", "--github")
    assert result.returncode == 0, result.stderr
    workflows = {p.name for p in (tmp_path / ".github" / "workflows").iterdir()}
    assert {"ci.yml", "deploy.yml", "hotfix.yml"} <= workflows
    deploy = (tmp_path / ".github" / "workflows" / "deploy.yml").read_text()
    assert "shipyard deploy staging" in deploy and "shipyard promote staging production" in deploy
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("# changed by hand\n")
    refused = shipyard(tmp_path, "init", "--github")
    assert refused.returncode == 2
