"""A throwaway git repository holding the example app and a shipyard.yml."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "reconcile"
SHIPYARD = [sys.executable, "-m", "shipyard"]
KILLING_OPERATOR = Path(__file__).with_name("killing_operator.py")


def killing_shipyard(phase: str) -> list[str]:
    """The CLI with the crash tests' hook: SIGKILLed right after `phase` (on every host)."""
    return [sys.executable, str(KILLING_OPERATOR), phase]


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=t@localhost", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


@dataclass
class AppRepo:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "shipyard.yml"

    def write_config(self, data: dict[str, Any]) -> None:
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def commit_version(self, version: str) -> str:
        (self.path / "VERSION").write_text(version + "\n")
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", f"version {version}")
        return git(self.path, "rev-parse", "HEAD")[:12]

    def commit_file(self, name: str, text: str, message: str) -> str:
        (self.path / name).write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)
        return git(self.path, "rev-parse", "HEAD")[:12]

    def shipyard(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 180,
        kill_after: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real CLI in the repository, as a user would (`kill_after`: SIGKILLed
        right after that phase, see killing_operator.py)."""
        cli = killing_shipyard(kill_after) if kill_after else SHIPYARD
        return subprocess.run(
            [*cli, *args, "-c", str(self.config)]
            if args[0] not in ("demo", "init")
            else [*cli, *args],
            cwd=self.path,
            env={**os.environ, "CI": "true", **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def make_repo(path: Path, config: dict[str, Any]) -> AppRepo:
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__", "shipyard.yml"))
    repo = AppRepo(path)
    repo.write_config(config)
    git(path, "init", "-q", "-b", "main")
    repo.commit_version("1.0.0")
    return repo


def local_config(root: Path, port: int, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 8},
        "nginx": {"listen": f"127.0.0.1:{port}"},
        "drain_timeout": 2,
        "observe": {"window": 0},
        # the gates have their own tests; here they would only add a bandit run per deploy
        "gates": {"bandit": {"enabled": False}},
        "environments": {"local": {"hosts": ["local"], "root": str(root)}},
    }
    config.update(overrides)
    return config
