"""What Shipyard's release workflow does, read from .github/workflows/release.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RELEASE = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "release.yml"


def workflow() -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load(RELEASE.read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    return document


def test_a_version_tag_starts_a_release_and_nothing_else_does() -> None:
    assert workflow()["on"] == {"push": {"tags": ["v*"]}}


def test_nothing_is_published_unless_the_tests_and_the_checks_passed() -> None:
    jobs = workflow()["jobs"]
    assert jobs["build"]["needs"] == "test" and jobs["publish"]["needs"] == "build"
    assert "scripts/test" in jobs["test"]["steps"][-1]["run"]
    assert jobs["test"]["container"]["image"] == "debian:12"
    build_runs = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build_runs and "twine check --strict" in build_runs
    assert "GITHUB_REF_NAME" not in build_runs and "${TAG#v}" in build_runs


def test_publishing_uses_trusted_publishing_and_no_stored_secret() -> None:
    document = workflow()
    assert document["permissions"] == {"contents": "read"}
    publish = document["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    uses = [step.get("uses", "") for step in publish["steps"]]
    assert "pypa/gh-action-pypi-publish@release/v1" in uses
    assert "secrets." not in RELEASE.read_text()
    assert all("with" not in step or "password" not in step["with"] for step in publish["steps"])
