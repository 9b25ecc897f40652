"""Which copy of Shipyard is running: an installed distribution, or a source checkout."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import shipyard
from shipyard import DISTRIBUTION, __version__


@dataclass(frozen=True)
class Checkout:
    """A git checkout of Shipyard's source that this process runs from.

    tagged: HEAD carries the release tag `v<version>`; clean: no uncommitted change to
    tracked files. Only a tagged, clean checkout is the released version.
    """

    path: Path
    commit: str | None
    tagged: bool
    clean: bool

    @property
    def is_release(self) -> bool:
        return self.tagged and self.clean


@dataclass(frozen=True)
class RunningCopy:
    version: str
    package_dir: Path  # the `shipyard` package's directory
    checkout: Checkout | None  # None: an installed distribution (wheel, pipx, pip)


def running_copy() -> RunningCopy:
    package_dir = Path(shipyard.__file__).resolve().parent
    return RunningCopy(__version__, package_dir, _checkout(package_dir))


def source_tree(package_dir: Path) -> Path | None:
    """The project directory if `package_dir` is src/shipyard of Shipyard's source tree."""
    root = package_dir.parent.parent
    if package_dir.parent.name != "src":
        return None
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if f'name = "{DISTRIBUTION}"' in pyproject else None


def _checkout(package_dir: Path) -> Checkout | None:
    root = source_tree(package_dir)
    if root is None:
        return None
    commit = _git(root, "rev-parse", "HEAD")
    tags = (_git(root, "tag", "--points-at", "HEAD") or "").split()
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return Checkout(
        path=root,
        commit=commit,
        tagged=f"v{__version__}" in tags,
        clean=status == "",
    )


def _git(root: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None
