"""The generated GitHub workflows pass the real `actionlint` (and ShellCheck, if installed).

actionlint comes from the dev dependencies (a PyPI wheel that ships the binary, installed
as .venv/bin/actionlint). actionlint runs ShellCheck on every `run:` script when
ShellCheck is installed; that check runs here only then (`apt-get install shellcheck`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.github import write_workflows

pytestmark = pytest.mark.integration

SIMPLE = """\
app: reconcile
start: .venv/bin/gunicorn --bind unix:$SHIPYARD_SOCKET app:app
environments:
  staging:
    hosts: [deploy@staging.example.com]
  production:
    hosts: [deploy@app1.example.com]
"""

EVERYTHING = """\
app: reconcile
start: .venv/bin/gunicorn --bind unix:$SHIPYARD_SOCKET app:app
secrets:
  SECRET_KEY: {from_env: RECONCILE_SECRET_KEY}
  BANK_TOKEN: {from_file: secrets/bank-token}
ssh:
  known_hosts: deploy/known_hosts
environments:
  local:
    hosts: [local]
  stage:
    hosts: [deploy@staging.example.com]
    ssh:
      identity_file: ~/.ssh/staging key
      known_hosts: ~/.ssh/known_hosts
  live:
    hosts: [deploy@app1.example.com, deploy@app2.example.com:2222]
    secrets:
      DATABASE_URL: {from_env: RECONCILE_DATABASE_URL}
      CERT: {from_file: /tmp/reconcile/cert.pem}
"""


def actionlint() -> str:
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: pip install -e '.[dev]' (or scripts/setup)")
    return found


def generate(tmp_path: Path, config: str, subdir: str = "", **options: str) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("secrets/\n")
    app_dir = tmp_path / subdir
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "shipyard.yml").write_text(config)
    written = write_workflows(tmp_path, app_dir / "shipyard.yml", **options)  # type: ignore[arg-type]
    assert len(written) == 4
    return tmp_path


def lint(repo: Path, shellcheck: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-oneline", "-no-color", f"-shellcheck={shellcheck}", "-pyflakes="],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CASES = {
    "simple": (SIMPLE, "", {}),
    "everything": (
        EVERYTHING,
        "services/reconcile",
        {
            "staging": "stage",
            "production": "live",
            "python_version": "3.12",
            "branch": "release/2026",
            "install_command": "python -m pip install --upgrade pip\n"
            "pip install 'shipyard @ git+https://example.com/acme/shipyard@v0.1.0'",
        },
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_actionlint_finds_nothing_in_the_generated_workflows(tmp_path: Path, case: str) -> None:
    config, subdir, options = CASES[case]
    repo = generate(tmp_path, config, subdir, **options)
    result = lint(repo)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(CASES))
def test_shellcheck_through_actionlint_finds_nothing(tmp_path: Path, case: str) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck is not None, "shellcheck is missing: run scripts/setup"
    config, subdir, options = CASES[case]
    repo = generate(tmp_path, config, subdir, **options)
    result = lint(repo, shellcheck)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_actionlint_does_report_a_broken_workflow(tmp_path: Path) -> None:
    # so that a silent or stubbed binary cannot make the tests above pass
    repo = generate(tmp_path, SIMPLE)
    deploy = repo / ".github/workflows/deploy.yml"
    deploy.write_text(deploy.read_text().replace("    needs: staging\n", "    needs: stagin\n"))
    result = lint(repo)
    assert result.returncode == 1
    assert "deploy.yml" in result.stdout and "stagin" in result.stdout
