"""Shipyard's own release workflow, and the generated workflows that install the committed
wheel, pass the real actionlint with ShellCheck (both installed by scripts/setup)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard import __version__
from shipyard.dist.install import WHEEL_DIR, wheel_command
from shipyard.dist.wheel import wheel_filename
from shipyard.github import write_workflows

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
app: reconcile
start: python3 app.py
environments:
  staging:
    hosts: [deploy@staging.example.com]
  production:
    hosts: [deploy@app1.example.com]
"""


def lint(repo: Path, *files: str) -> subprocess.CompletedProcess[str]:
    actionlint = Path(sys.executable).parent / "actionlint"
    shellcheck = shutil.which("shellcheck")
    assert actionlint.exists(), "actionlint is missing: run scripts/setup"
    assert shellcheck is not None, "shellcheck is missing: run scripts/setup"
    return subprocess.run(
        [actionlint, "-oneline", "-no-color", f"-shellcheck={shellcheck}", "-pyflakes=", *files],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_release_workflow_passes_actionlint_and_shellcheck() -> None:
    result = lint(ROOT, ".github/workflows/release.yml")
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_workflows_installing_the_committed_wheel_pass_actionlint_and_shellcheck(
    tmp_path: Path,
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "shipyard.yml").write_text(CONFIG)
    command = wheel_command(f"{WHEEL_DIR}/{wheel_filename(__version__)}")
    write_workflows(tmp_path, tmp_path / "shipyard.yml", install_command=command)
    result = lint(tmp_path)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_actionlint_reports_a_broken_release_workflow(tmp_path: Path) -> None:
    # so that a silent linter cannot make the test above pass
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    text = (ROOT / ".github/workflows/release.yml").read_text()
    (workflows / "release.yml").write_text(text.replace("needs: build", "needs: biuld"))
    result = lint(tmp_path)
    assert result.returncode == 1 and "biuld" in result.stdout
