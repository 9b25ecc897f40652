"""Installing Shipyard the way users and GitHub runners do, with no index on the network.

- `pip_env`: an environment for pip that ignores this machine's pip configuration and
  finds packages only where the test says;
- `make_venv`: a clean virtual environment (with pip, like a runner's Python);
- `LocalIndex`: a PEP 503 "simple" index of wheels in a directory, served over real
  HTTP on loopback by `python -m http.server` (the stand-in for PyPI);
- `run_job`: the `run:` steps of one job of a generated workflow, in order, with the
  job's and each step's `env:`, through bash (a stand-in for the GitHub runner).
"""

from __future__ import annotations

import html
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import support.wheelhouse as wheelhouse


def wheels() -> Path:
    """The wheelhouse of Shipyard's dependencies that scripts/setup fills."""
    path = wheelhouse.directory()
    if not wheelhouse.is_complete(path):
        raise AssertionError(
            f"the dependency wheelhouse {path} is missing or incomplete: run scripts/setup"
        )
    return path


def pip_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without pip's settings, and with no pip configuration file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PIPX_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        {
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_COMPILE": "1",  # only speed: nothing here depends on .pyc files
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra or {})
    return env


def offline(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip finds nothing but the dependency wheelhouse."""
    return pip_env({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels()), **(extra or {})})


def make_venv(path: Path) -> Path:
    """A new virtual environment with pip; returns its bin/ directory."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    return path / "bin"


def run(
    argv: list[str | Path], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in argv],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (result.args, result.stdout[-3000:], result.stderr[-3000:])
    return result


class LocalIndex:
    """PEP 503 indexes under one directory, served on loopback: root/<name>/simple/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self._server: subprocess.Popen[bytes] | None = None

    def add(self, name: str, wheel_files: list[Path]) -> str:
        """An index `name` holding these wheels; returns its URL (start the server first)."""
        assert self.port, "start() the index first: its URL has the port"
        files = self.root / name / "files"
        files.mkdir(parents=True, exist_ok=True)
        projects: dict[str, list[str]] = {}
        for wheel in wheel_files:
            shutil.copyfile(wheel, files / wheel.name)
            project = wheel.name.split("-")[0].replace("_", "-").replace(".", "-").lower()
            projects.setdefault(project, []).append(wheel.name)
        simple = self.root / name / "simple"
        simple.mkdir(parents=True, exist_ok=True)
        for project, names in projects.items():
            page = simple / project
            page.mkdir(exist_ok=True)
            links = "".join(
                f'<a href="../../files/{html.escape(n)}">{html.escape(n)}</a><br/>\n'
                for n in sorted(names)
            )
            (page / "index.html").write_text(
                f"<!DOCTYPE html><html><body>\n{links}</body></html>\n"
            )
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}/simple/"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port)],
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("the local index did not start")

    def stop(self) -> None:
        if self._server is not None:
            self._server.terminate()
            self._server.wait(timeout=10)


@dataclass
class StepResult:
    name: str
    result: subprocess.CompletedProcess[str]


def run_job(
    workflow: Path,
    job: str,
    env: Mapping[str, str],
    cwd: Path,
    only: list[str] | None = None,
) -> list[StepResult]:
    """Run the `run:` steps of `job` in `workflow` with bash, as a GitHub runner would.

    `uses:` steps (checkout, setup-python) are what the test set up itself; conditional
    steps (`if:`) are left out; `only`: just the steps of these names. Stops at the
    first step that fails.
    """
    document: dict[str, Any] = yaml.safe_load(workflow.read_text())
    spec = document["jobs"][job]
    base = {**env, **{k: str(v) for k, v in (document.get("env") or {}).items()}}
    base.update({k: str(v) for k, v in (spec.get("env") or {}).items()})
    done = []
    for step in spec["steps"]:
        if "run" not in step or "if" in step or (only is not None and step["name"] not in only):
            continue
        step_env = {**base, **{k: str(v) for k, v in (step.get("env") or {}).items()}}
        # the shell GitHub runs `run:` steps with (defaults: run: shell: bash)
        argv: list[str | Path] = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
        result = run([*argv, step["run"]], step_env, cwd=cwd)
        done.append(StepResult(step["name"], result))
        if result.returncode != 0:
            break
    return done
