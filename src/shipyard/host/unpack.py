"""Verify an uploaded artifact and unpack it without letting it escape its directory."""

from __future__ import annotations

import errno
import hashlib
import tarfile
from pathlib import Path

from shipyard.host.errors import HostOpError


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_digest(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise HostOpError(
            f"artifact digest mismatch: expected sha256 {expected[:16]}..., got {actual[:16]}...",
            hint="the upload was corrupted or tampered with; nothing was unpacked. Deploy again.",
        )


def safe_unpack(archive: Path, dest: Path) -> None:
    """Extract a .tar.gz into dest, refusing absolute paths, `..`, links leaving the tree,
    devices and anything else the `data` filter rejects."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                _check_member(member)
            tar.extractall(dest, filter="data")
    except tarfile.TarError as exc:
        raise HostOpError(
            f"refused to unpack the artifact: {exc}",
            hint="the artifact contains paths or links that leave the release directory",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise HostOpError(
                f"the disk filled up while unpacking the artifact into {dest.parent} "
                f"({exc.strerror})",
                hint="nothing was kept; free space on the host (old releases, logs), "
                "or raise resources.disk_per_artifact so this is refused up front",
            ) from None
        raise HostOpError(f"could not unpack the artifact: {exc}") from None


def _check_member(member: tarfile.TarInfo) -> None:
    name = Path(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise tarfile.OutsideDestinationError(member, member.name)
    if member.issym() or member.islnk():
        target = Path(member.linkname)
        resolved = (name.parent / target) if member.issym() else target
        if target.is_absolute() or _escapes(resolved):
            raise tarfile.LinkOutsideDestinationError(member, member.linkname)
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise tarfile.SpecialFileError(member)


def _escapes(path: Path) -> bool:
    depth = 0
    for part in path.parts:
        if part == "..":
            depth -= 1
        elif part not in (".", ""):
            depth += 1
        if depth < 0:
            return True
    return False
