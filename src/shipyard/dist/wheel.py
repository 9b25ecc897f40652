"""A wheel of the running Shipyard: the very code this process runs, as one file.

`shipyard init --github` commits it for GitHub runners when the version is not on the
package index, and server setup can ship it to hosts that have no index: both need the
operator's exact version, never a guess at it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from shipyard import DISTRIBUTION
from shipyard.dist.errors import DistError
from shipyard.dist.running import RunningCopy, running_copy

# zip entries carry no real time, so the same files always make the same bytes
_EPOCH_1980 = (1980, 1, 1, 0, 0, 0)
_NOT_COPIED = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_MIN_SETUPTOOLS = (77,)


def wheel_filename(version: str) -> str:
    """bluegreen_shipyard-<version>-py3-none-any.whl (Shipyard is pure Python)."""
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"


def build_own_wheel(dest: Path, copy: RunningCopy | None = None) -> Path:
    """Write a wheel of the running Shipyard into `dest`; return its path.

    - From a source checkout (an editable install, or `python -m shipyard` in the tree):
      built from the checkout's files, tracked and untracked but not ignored, in a
      temporary copy (nothing is written into the checkout). File times come from
      SOURCE_DATE_EPOCH (the commit's time), so an unchanged tree gives the same bytes.
      Needs setuptools >= 77 here, or else pip fetches it from the package index.
    - From an installed copy (pip, pipx): the installed files listed in its RECORD, each
      checked against the hash recorded there, packed again with the installed metadata.

    Raises DistError when the wheel cannot be made (a build failure, a modified install).
    """
    copy = copy or running_copy()
    dest.mkdir(parents=True, exist_ok=True)
    if copy.checkout is not None:
        return _build_from_source(copy.checkout.path, copy.version, dest)
    return _repack_installed(copy.version, dest)


def _build_from_source(root: Path, version: str, dest: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="shipyard-wheel-") as scratch:
        tree = Path(scratch) / "src-tree"
        _copy_tree(root, tree)
        out = Path(scratch) / "out"
        argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
        if _has_setuptools():
            argv.append("--no-build-isolation")
        env = {**os.environ, "SOURCE_DATE_EPOCH": _commit_time(root)}
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        result = subprocess.run(
            [*argv, str(tree)], capture_output=True, text=True, env=env, timeout=600, check=False
        )
        built = sorted(out.glob("*.whl")) if result.returncode == 0 else []
        if len(built) != 1:
            raise DistError(
                f"could not build a wheel of Shipyard from {root}: "
                + (result.stderr or result.stdout).strip()[-800:],
                "fix the build (`python -m build` in the checkout shows the same error), "
                "or install Shipyard from a wheel and run it from there",
            )
        if built[0].name != wheel_filename(version):
            raise DistError(
                f"the checkout builds {built[0].name}, but this process runs {version}",
                "the checkout changed since this process started: run the command again",
            )
        target = dest / built[0].name
        shutil.copyfile(built[0], target)
        return target


def _copy_tree(root: Path, tree: Path) -> None:
    """The checkout's files (tracked and untracked, not ignored), links kept as links."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if listed.returncode != 0:  # not a git checkout (an unpacked sdist): all but the noise
        shutil.copytree(
            root,
            tree,
            symlinks=True,
            ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info"),
        )
        return
    for name in listed.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not name:
            continue
        source, target = root / name, tree / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted but not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)


def _has_setuptools() -> bool:
    if importlib.util.find_spec("setuptools") is None:
        return False
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return (major,) >= _MIN_SETUPTOOLS


def _commit_time(root: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), "log", "-1", "--format=%ct"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    stamp = result.stdout.strip()
    return stamp if result.returncode == 0 and stamp.isdigit() else "315532800"  # 1980


def _repack_installed(version: str, dest: Path) -> Path:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise DistError(
            f"{DISTRIBUTION} is not installed here, and this is not a source checkout",
            f"install it (pipx install {DISTRIBUTION}) and run that copy",
        ) from None
    if dist.version != version:
        raise DistError(
            f"the installed {DISTRIBUTION} is {dist.version}, but this process runs {version}",
            "run the installed copy's `shipyard`, or reinstall it",
        )
    base = Path(str(dist.locate_file("")))
    entries: list[tuple[str, bytes, int]] = []
    for item in dist.files or []:
        parts = PurePosixPath(str(item)).parts
        if not parts or parts[0] == ".." or "__pycache__" in parts or item.suffix == ".pyc":
            continue  # the console script (bin/) and compiled files: pip makes them again
        if parts[0].endswith(".dist-info") and len(parts) == 2 and parts[1] in _NOT_COPIED:
            continue
        path = base / str(item)
        data = path.read_bytes()
        if item.hash is not None and item.hash.mode == "sha256" and _b64(data) != item.hash.value:
            raise DistError(
                f"{path} differs from the file {DISTRIBUTION} {version} installed",
                "an installed file was changed: reinstall Shipyard "
                f"(pipx install --force {DISTRIBUTION}=={version})",
            )
        mode = 0o755 if os.access(path, os.X_OK) else 0o644
        entries.append((str(PurePosixPath(*parts)), data, mode))
    names = {name for name, _, _ in entries}
    info = f"{DISTRIBUTION.replace('-', '_')}-{version}.dist-info"
    if f"{info}/WHEEL" not in names or "shipyard/__init__.py" not in names:
        raise DistError(
            f"the installed {DISTRIBUTION} {version} does not list its files (RECORD)",
            f"reinstall it: pipx install --force {DISTRIBUTION}=={version}",
        )
    target = dest / wheel_filename(version)
    _write_wheel(target, entries, f"{info}/RECORD")
    return target


def _write_wheel(target: Path, entries: list[tuple[str, bytes, int]], record: str) -> None:
    # the package first, metadata after it, RECORD last: the order wheels are read in
    ordered = sorted(entries, key=lambda entry: (".dist-info/" in entry[0], entry[0]))
    lines = [f"{name},sha256={_b64(data)},{len(data)}" for name, data, _ in ordered]
    lines.append(f"{record},,")
    ordered.append((record, ("\n".join(lines) + "\n").encode(), 0o644))
    partial = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in ordered:
            info = zipfile.ZipInfo(name, date_time=_EPOCH_1980)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    partial.replace(target)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
