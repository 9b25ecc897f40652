"""The files of backups on a host: staging and scratch directories, SQLite's online
backup API, swapping a restored directory in, checksums."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shipyard.host.errors import HostOpError
from shipyard.plan.layout import Layout
from shipyard.protocol.backup import SourceSpec

CHUNK = 1024 * 1024


def entry(source: SourceSpec) -> str:
    """The snapshot's top-level directory: the staging directory (named for the source),
    or the backed-up directory itself."""
    return Path(str(source.path)).name if source.kind == "directory" else source.name


def live_path(layout: Layout, source: SourceSpec) -> Path:
    path = layout.shared / str(source.path)
    if source.kind == "sqlite" and not path.is_file():
        raise HostOpError(
            f"backup source {source.name}: {path} does not exist",
            hint="the path is relative to the environment's shared/ directory",
        )
    return path


@contextmanager
def fresh(path: Path) -> Iterator[Path]:
    """An empty directory (0700) at `path`, removed afterwards."""
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sqlite_copy(source: Path, target: Path, *, into_live: bool = False) -> None:
    """SQLite's online backup API: a consistent copy even while the app writes."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        what = "restoring into" if into_live else "copying"
        raise HostOpError(f"SQLite backup API failed {what} {target}: {exc}") from None
    finally:
        dst.close()
        src.close()


def swap_in(restored: Path, live: Path) -> None:
    """Put a restored directory in place of the live one (the old one moved aside, then
    removed once the new one is there)."""
    aside = live.with_name(f".{live.name}.before-restore")
    shutil.rmtree(aside, ignore_errors=True)
    if live.exists():
        live.rename(aside)
    shutil.move(str(restored), str(live))
    shutil.rmtree(aside, ignore_errors=True)


def checksums(directory: Path) -> dict[str, str]:
    sums = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        sums[str(path.relative_to(directory))] = digest.hexdigest()
    return sums
