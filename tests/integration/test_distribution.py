"""Shipyard as users get it: built, checked, installed with pip and pipx, and in CI.

`python -m build` makes the sdist and the wheel (the wheel from the sdist); they are
installed with no package index on the network: the dependencies come from the
wheelhouse scripts/setup fills, and "PyPI" is a local index served over HTTP on loopback.
The installed copies run `--help`, the host agent and the demo (real nginx and
supervisord), and the generated workflows' steps run through bash as a runner would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.apprepo import EXAMPLE, free_port, git
from support.dist import (
    LocalIndex,
    StepResult,
    make_venv,
    offline,
    ok,
    pip_env,
    run,
    run_job,
    wheels,
)

from shipyard import __version__
from shipyard.protocol.op import PROTOCOL_VERSION

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WHEEL = f"bluegreen_shipyard-{__version__}-py3-none-any.whl"
SDIST = f"bluegreen_shipyard-{__version__}.tar.gz"


@dataclass
class Built:
    dist: Path  # the sdist and the wheel
    index: LocalIndex  # "published": the wheel and its dependencies; "empty": nothing
    app: Path  # an app repository whose workflows install from the index
    ci: list[StepResult]  # its ci.yml job, run on a fresh runner
    venv_bin: Path  # that runner's Python: a clean venv that pip installed the wheel into
    scratch: Path

    @property
    def wheel(self) -> Path:
        return self.dist / WHEEL


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    """Build; serve "PyPI" locally; run a generated ci.yml that installs from it.

    The runner's clean venv is then the copy that pip installed (and the operator the
    other tests run `shipyard` from): one install serves both, the suite is long enough.
    """
    scratch = Path(tempfile.mkdtemp(prefix="syd-dist-", dir="/tmp"))
    scratch.chmod(0o755)  # nginx's workers reach the demo's sockets in here
    index = LocalIndex(scratch / "index")
    try:
        dist = scratch / "dist"
        ok(run([sys.executable, "-m", "build", "--no-isolation", "-o", dist, ROOT], pip_env()))
        index.start()
        published = index.add("published", [dist / WHEEL, *wheels().glob("*.whl")])
        (index.root / "empty" / "simple").mkdir(parents=True)
        app = _app_repo(scratch / "app-published")
        init = [Path(sys.executable).parent / "shipyard", "init", "--github", "--app", "reconcile"]
        ok(run([*init, "--install-from", "pypi"], pip_env(), cwd=app))
        git(app, "add", "-A")
        git(app, "commit", "-q", "-m", "deploy with shipyard")
        runner = scratch / "runner-published"
        # the runner's pip asks "PyPI": here, the local index
        ci = _ci_job(app, runner, pip_env({"PIP_INDEX_URL": published}), CI_STEPS[:2])
        yield Built(dist, index, app, ci, runner / "venv" / "bin", scratch)
    finally:
        index.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def test_the_sdist_and_the_wheel_pass_twine_check_and_carry_every_module(built: Built) -> None:
    assert sorted(p.name for p in built.dist.iterdir()) == sorted([SDIST, WHEEL])
    twine = Path(sys.executable).parent / "twine"
    result = ok(run([twine, "check", "--strict", *built.dist.iterdir()], pip_env()))
    assert result.stdout.count("PASSED") == 2

    names = set(zipfile.ZipFile(built.wheel).namelist())
    package = ROOT / "src" / "shipyard"
    expected = {
        "shipyard/" + path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected <= names, sorted(expected - names)
    assert "shipyard/examples/reconcile/app.py" in names  # the demo's app
    metadata = zipfile.ZipFile(built.wheel).read(
        f"bluegreen_shipyard-{__version__}.dist-info/entry_points.txt"
    )
    assert b"shipyard = shipyard.cli.entry:run" in metadata


def _demo(shipyard: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    port = free_port()
    env = {**pip_env(), "CI": "true"}
    try:
        return run(
            [shipyard, "demo", "--port", port, "--workdir", workdir], env, cwd=workdir.parent
        )
    finally:
        run([shipyard, "demo", "--stop", "--workdir", workdir], env)


def test_the_wheel_pip_installed_in_a_clean_venv_runs_help_and_the_host_agent(
    built: Built,
) -> None:
    shipyard = built.venv_bin / "shipyard"
    env = pip_env()
    assert ok(run([shipyard, "--version"], env)).stdout.strip() == __version__
    assert "deploy" in ok(run([shipyard, "--help"], env)).stdout

    # the host agent, as the operator starts it on a host over SSH: one line in, one out
    root = built.scratch / "agent-root"
    scope = {"root": str(root), "app": "reconcile", "env": "x"}
    hello = {"operator_version": __version__, "protocol": PROTOCOL_VERSION}
    request = {"op": "hello", "request": scope | hello}
    agent = subprocess.run(
        [shipyard, "host", "serve"],
        input=json.dumps(request) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    reply = json.loads(agent.stdout.splitlines()[0])
    assert reply["ok"] is True and reply["version"] == __version__, agent.stderr
    assert (root / "reconcile" / "x" / "releases").is_dir()


def test_pipx_installs_the_wheel_and_its_shipyard_runs_the_demo(built: Built) -> None:
    home = built.scratch / "pipx"
    env = offline(
        {
            "PIPX_HOME": str(home / "home"),
            "PIPX_BIN_DIR": str(home / "bin"),
            "PIPX_MAN_DIR": str(home / "man"),
        }
    )
    pipx = Path(sys.executable).parent / "pipx"
    ok(run([pipx, "install", "--python", sys.executable, built.wheel], env))
    shipyard = home / "bin" / "shipyard"
    assert ok(run([shipyard, "--version"], env)).stdout.strip() == __version__
    assert "Zero-downtime blue-green deploys" in ok(run([shipyard, "--help"], env)).stdout

    workdir = built.scratch / "demo"
    result = _demo(shipyard, workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version 1.0.0" in result.stdout and "version 2.0.0" in result.stdout
    assert "warm switch" in result.stdout
    # the demo's host side ran from the installed copy, not from this checkout
    supervisord_conf = next(workdir.glob("hosts/reconcile/local/**/supervisord.conf"))
    assert str(home / "home" / "venvs" / "bluegreen-shipyard") in supervisord_conf.read_text()


def _app_repo(path: Path) -> Path:
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__"))
    git(path, "init", "-q", "-b", "main")
    return path


def _runner_env(repo: Path, runner: Path, extra: dict[str, str]) -> dict[str, str]:
    """What a GitHub runner gives a job: its Python first on PATH, the workspace, the sha."""
    temp = runner / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    path = f"{runner / 'venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return {
        **extra,
        "PATH": path,
        "HOME": str(runner),
        "CI": "true",
        "GITHUB_WORKSPACE": str(repo),
        "GITHUB_SHA": git(repo, "rev-parse", "HEAD"),
        "RUNNER_TEMP": str(temp),
    }


CI_STEPS = ["Install Shipyard", "Check shipyard.yml", "Quality gates"]


def _ci_job(
    repo: Path, runner: Path, pip: dict[str, str], steps: list[str] = CI_STEPS
) -> list[StepResult]:
    """ci.yml's job on a fresh runner: install Shipyard, check shipyard.yml, the gates."""
    make_venv(runner / "venv")
    env = _runner_env(repo, runner, pip)
    ran = run_job(repo / ".github/workflows/ci.yml", "gates", env, repo, only=steps)
    for step in ran:
        assert step.result.returncode == 0, (step.name, step.result.stdout, step.result.stderr)
    assert [s.name for s in ran] == steps
    installed = ok(run([runner / "venv" / "bin" / "shipyard", "--version"], pip_env()))
    assert installed.stdout.strip() == __version__
    return ran


def test_the_generated_workflows_install_a_published_version_from_the_index(
    built: Built,
) -> None:
    ci = (built.app / ".github/workflows/ci.yml").read_text()
    assert f"python -m pip install bluegreen-shipyard=={__version__}" in ci
    assert [(s.name, s.result.returncode) for s in built.ci] == [(n, 0) for n in CI_STEPS[:2]]
    shipyard = built.venv_bin / "shipyard"
    assert ok(run([shipyard, "--version"], pip_env())).stdout.strip() == __version__


def test_an_installed_copy_chooses_the_index_when_its_version_is_published_there(
    built: Built,
) -> None:
    repo = _app_repo(built.scratch / "app-auto")
    published = built.index.url("published")

    init = run(
        [built.venv_bin / "shipyard", "init", "--github", "--app", "reconcile"],
        pip_env({"SHIPYARD_INDEX_URL": published}),
        cwd=repo,
    )

    assert init.returncode == 0, init.stdout + init.stderr
    assert f"from the package index: bluegreen-shipyard=={__version__}" in init.stdout
    assert f"{__version__} is published on {published}" in init.stdout
    assert not (repo / ".github" / "shipyard").exists()


def test_an_unpublished_version_is_installed_from_the_wheel_init_commits(built: Built) -> None:
    repo = _app_repo(built.scratch / "app-unpublished")
    empty = built.index.url("empty")

    init = run(
        [built.venv_bin / "shipyard", "init", "--github", "--app", "reconcile"],
        pip_env({"SHIPYARD_INDEX_URL": empty}),
        cwd=repo,
    )

    assert init.returncode == 0, init.stdout + init.stderr
    assert f"from the wheel .github/shipyard/{WHEEL}" in init.stdout
    assert "is not published on" in init.stdout
    committed = repo / ".github" / "shipyard" / WHEEL
    # rebuilt from the installed files: the same files as the wheel that was installed
    assert _contents(committed) == _contents(built.wheel)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "deploy with shipyard")
    # no index at all: Shipyard from the commit, its dependencies from the wheelhouse
    _ci_job(repo, built.scratch / "runner-unpublished", offline())


def test_from_a_checkout_init_github_commits_a_wheel_built_from_the_source(built: Built) -> None:
    repo = _app_repo(built.scratch / "app-checkout")
    # this checkout is not the tagged release: the index's copy, if any, is other code
    init = run(
        [Path(sys.executable).parent / "shipyard", "init", "--github", "--app", "reconcile"],
        pip_env({"SHIPYARD_INDEX_URL": built.index.url("published")}),
        cwd=repo,
    )

    assert init.returncode == 0, init.stdout + init.stderr
    assert "runs from a checkout" in init.stdout
    assert _contents(repo / ".github" / "shipyard" / WHEEL) == _contents(built.wheel)


def _contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {n: archive.read(n) for n in archive.namelist() if not n.endswith("/RECORD")}
