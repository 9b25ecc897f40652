"""Shipyard's runtime dependencies as wheels, so tests install Shipyard with no index.

The distribution tests install the built wheel into clean virtual environments (pip,
pipx, the generated workflows' install step) with `--no-index`: the dependencies come
from this directory. scripts/setup fills it (`python3 tests/support/wheelhouse.py`), once
per set of dependencies in pyproject.toml and Python version, outside the repository:
`$SHIPYARD_WHEELHOUSE`, else ~/.cache/shipyard-test/wheelhouse-<key>.

Run with the Python that .venv is made from: the wheels must fit its version.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# pipx's shared environment upgrades pip when it is made: it takes it from here too
EXTRA = ("pip",)


def requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return [*project["dependencies"], *EXTRA]


def key() -> str:
    text = "\n".join([*requirements(), f"py{sys.version_info[0]}.{sys.version_info[1]}"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def directory() -> Path:
    if os.environ.get("SHIPYARD_WHEELHOUSE"):
        return Path(os.environ["SHIPYARD_WHEELHOUSE"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "shipyard-test" / f"wheelhouse-{key()}"


def is_complete(path: Path) -> bool:
    return (path / ".complete").is_file()


def ensure() -> Path:
    """Download the wheels if this set is not there yet; return the directory."""
    path = directory()
    if is_complete(path):
        return path
    path.mkdir(parents=True, exist_ok=True)
    print(f"setup: downloading Shipyard's dependencies as wheels into {path}", file=sys.stderr)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--dest",
            str(path),
            *requirements(),
        ],
        check=True,
    )
    (path / ".complete").write_text("\n".join(requirements()) + "\n")
    return path


if __name__ == "__main__":
    ensure()
