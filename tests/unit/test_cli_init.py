"""`shipyard init`: a config that validates, and GitHub workflows that refuse to clobber."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from shipyard import __version__

NO_INDEX = "http://127.0.0.1:9/simple/"


def shipyard(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        # nothing listens on port 9: `init --github` never reaches a real package index
        env={**os.environ, "CI": "true", "SECRET_KEY": "x", "SHIPYARD_INDEX_URL": NO_INDEX},
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
    result = shipyard(tmp_path, "init", "--github", "--install-from", "pypi")
    assert result.returncode == 0, result.stderr
    workflows = {p.name for p in (tmp_path / ".github" / "workflows").iterdir()}
    assert {"ci.yml", "deploy.yml", "hotfix.yml"} <= workflows
    deploy = (tmp_path / ".github" / "workflows" / "deploy.yml").read_text()
    assert "shipyard deploy staging" in deploy and "shipyard promote staging production" in deploy
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("# changed by hand\n")
    refused = shipyard(tmp_path, "init", "--github", "--install-from", "pypi")
    assert refused.returncode == 2


def test_init_github_without_a_shipyard_yml_writes_it_and_the_workflows(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)

    result = shipyard(tmp_path, "init", "--github", "--app", "books", "--install-from", "pypi")

    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((tmp_path / "shipyard.yml").read_text())["app"] == "books"
    workflows = tmp_path / ".github" / "workflows"
    assert sorted(p.name for p in workflows.iterdir()) == [
        "ci.yml",
        "deploy.yml",
        "hotfix.yml",
        "promote.yml",
    ]
    assert f"bluegreen-shipyard=={__version__}" in (workflows / "ci.yml").read_text()
    assert "edit shipyard.yml" in result.stdout  # what to do next
    assert shipyard(tmp_path, "config", "check", "staging").returncode == 0


def test_init_github_leaves_an_existing_shipyard_yml_alone_even_with_force(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert shipyard(tmp_path, "init", "--app", "books").returncode == 0
    mine = (tmp_path / "shipyard.yml").read_text().replace("LOG_LEVEL: info", "LOG_LEVEL: debug")
    (tmp_path / "shipyard.yml").write_text(mine)

    result = shipyard(tmp_path, "init", "--github", "--force", "--install-from", "pypi")

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "shipyard.yml").read_text() == mine


def test_an_unknown_install_source_is_a_usage_error(tmp_path: Path) -> None:
    result = shipyard(tmp_path, "init", "--github", "--install-from", "conda")
    assert result.returncode == 2 and "auto, pypi or wheel" in result.stderr
    assert not (tmp_path / "shipyard.yml").exists()
