"""Wheels of the running Shipyard and of its dependencies at exactly the operator's
versions, for a host with another (or no) package index: `shipyard setup` uploads them
and installs with `pip --no-index`, so operator and host cannot drift apart.

The versions are the ones installed here (importlib.metadata, the dependency closure of
the running distribution); the files are fetched once per host Python and machine into a
cache outside any repository (`$SHIPYARD_WHEELHOUSE_CACHE`, else
~/.cache/shipyard/wheelhouse/<key>) and reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path

from shipyard import DISTRIBUTION, __version__
from shipyard.dist.errors import DistError

CACHE_ENV = "SHIPYARD_WHEELHOUSE_CACHE"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Wheelhouse:
    """A directory of wheels: Shipyard's own (`shipyard_wheel`) and its dependencies'.

    packed: the wheels as one tar, packed while the directory was locked, named by its
    digest: another checkout rebuilding the directory afterwards packs a file of another
    name, so this one keeps exactly the wheels this run built."""

    path: Path
    pins: tuple[str, ...]  # name==version, Shipyard first
    packed: Path | None = None

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in self.path.glob("*.whl"))

    def archive(self) -> Path:
        """All wheels as one tar (same wheels, same bytes): one upload, one checksum."""
        if self.packed is not None:
            return self.packed
        with building(self.path):
            return _pack(self.path)


ARCHIVE_KEEP_SECONDS = 3600.0  # an older archive of another build is no upload's any more


def _pack(path: Path) -> Path:
    """Pack the wheels of `path` (its lock held) into `<path>-<sha256[:16]>.tar`; remove
    that directory's archives of other builds unused for ARCHIVE_KEEP_SECONDS."""
    import tarfile
    import time

    partial = path.with_name(f"{path.name}.tar.partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for wheel in sorted(p for p in path.glob("*.whl")):
            info = tar.gettarinfo(str(wheel), arcname=wheel.name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o644
            with wheel.open("rb") as handle:
                tar.addfile(info, handle)
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()[:16]
    target = path.with_name(f"{path.name}-{digest}.tar")
    if target.is_file():
        partial.unlink()
        os.utime(target)  # in use again: not pruned for another while
    else:
        partial.replace(target)
    for old in path.parent.glob(f"{path.name}-*.tar"):
        if old != target and time.time() - old.stat().st_mtime > ARCHIVE_KEEP_SECONDS:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
    return target


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def exact_requirements(root: str = DISTRIBUTION) -> list[str]:
    """`name==version` for every distribution the running one needs, as installed here.

    Requested extras are followed (`cachecontrol[filecache]`); environment markers are
    evaluated for this interpreter (the host's pip resolves again, from these files
    only, and says what is missing).
    """
    from packaging.requirements import InvalidRequirement, Requirement

    seen: dict[str, str] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, str]] = [(root, "")]
    while todo:
        name, extra = todo.pop()
        name = _canonical(name)
        if (name, extra) in done:
            continue
        done.add((name, extra))
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise DistError(
                f"{name} is needed by Shipyard but not installed here",
                hint="reinstall Shipyard (pipx reinstall bluegreen-shipyard)",
            ) from None
        seen[name] = dist.version
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            marker = requirement.marker
            if marker is not None and not marker.evaluate({"extra": extra}):
                continue
            todo.append((requirement.name, ""))
            todo.extend((requirement.name, wanted) for wanted in requirement.extras)
    pins = [f"{name}=={version}" for name, version in sorted(seen.items()) if name != root]
    return [f"{_canonical(root)}=={seen[_canonical(root)]}", *pins]


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "shipyard" / "wheelhouse"


def platform_tags(machine: str) -> list[str]:
    """pip --platform values for a glibc Linux host of this machine type."""
    return [f"manylinux_2_{minor}_{machine}" for minor in (36, 35, 34, 28, 17)] + [
        f"manylinux2014_{machine}",
        f"linux_{machine}",
    ]


def ensure_wheelhouse(python: tuple[int, int], machine: str) -> Wheelhouse:
    """The wheelhouse for a host with this Python (major, minor) and machine (uname -m)."""
    from shipyard.dist.wheel import build_own_wheel

    pins = exact_requirements()
    key_text = "\n".join([*pins, f"cp{python[0]}{python[1]}", machine])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    path = cache_root() / f"{__version__}-{key}"
    complete = path / ".complete"
    with building(path):
        if not complete.is_file() or ".dev" in __version__:
            for old in path.glob(f"{DISTRIBUTION.replace('-', '_')}-*.whl"):
                old.unlink()
            build_own_wheel(path)
        if not complete.is_file():
            _download(path, pins[1:], python, machine)
            complete.write_text("\n".join(pins) + "\n")
        packed = _pack(path)  # under the same lock as the build: this run's wheels
    return Wheelhouse(path, tuple(pins), packed)


@contextlib.contextmanager
def building(path: Path) -> Iterator[None]:
    """One writer at a time in a wheelhouse: two `shipyard setup` runs at once (two
    environments from one machine) would otherwise remove, rebuild or pack the wheels
    under each other's feet."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _download(dest: Path, pins: list[str], python: tuple[int, int], machine: str) -> None:
    argv = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", f"{python[0]}.{python[1]}", "--dest", str(dest),
    ]  # fmt: skip
    for tag in platform_tags(machine):
        argv += ["--platform", tag]
    env = {k: v for k, v in os.environ.items() if k != "PIP_REQUIRE_VIRTUALENV"}
    result = subprocess.run(
        [*argv, *pins], capture_output=True, text=True, env=env, timeout=900, check=False
    )
    if result.returncode != 0:
        raise DistError(
            f"could not download Shipyard's dependencies as wheels for Python "
            f"{python[0]}.{python[1]} on {machine}: {result.stderr.strip()[-600:]}",
            hint="this machine needs its package index (pip) once; the wheels are cached "
            f"in {cache_root()}",
        )
