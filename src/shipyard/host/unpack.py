"""Verify an uploaded artifact and unpack it without letting it escape its directory.

Unpacking does not rely on tarfile's extraction filters (Python 3.11.7's `data` filter
is bypassable, CVE-2025-4517): it reads the archive as a stream and creates every
member itself. Each member's destination is resolved through the links already
unpacked (`confine.resolve_inside`, which fails closed) and must stay in the release
directory; only regular files, directories and links are accepted; links may not point
outside, hard links only at files of this release; setuid and setgid bits are refused.
The unpacked size is capped at `MAX_UNPACK_RATIO` times the artifact's size (at least
`MIN_UNPACK_BYTES`) and the member count at `MAX_MEMBERS`. Once all is written, every
link is resolved again, so a link made outside-pointing by a later member is caught.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from shipyard.host.confine import Escapes, resolve_inside, split
from shipyard.host.errors import HostOpError

MAX_UNPACK_RATIO = 100  # unpacked bytes per artifact byte; source compresses 3-10x
MIN_UNPACK_BYTES = 64 * 1024 * 1024  # so a small artifact with one big data file still fits
MAX_MEMBERS = 200_000  # files, directories and links in one artifact
MAX_HEADER_BYTES = 1024 * 1024  # one member's headers (pax records, long names)

_CHUNK = 1 << 20
# what a member's own shape causes (a path too long, a file where a directory must be)
_MEMBER_ERRORS = {errno.ENAMETOOLONG, errno.ELOOP, errno.ENOTDIR, errno.EEXIST, errno.EISDIR}
_REFUSED_HINT = (
    "nothing was kept; the artifact was crafted or corrupted: build it again from git "
    "(`shipyard deploy` archives the commit itself)"
)


@dataclass(frozen=True)
class UnpackLimits:
    """How much one artifact may unpack to."""

    ratio: int = MAX_UNPACK_RATIO
    min_bytes: int = MIN_UNPACK_BYTES
    max_members: int = MAX_MEMBERS

    def max_bytes(self, artifact_size: int) -> int:
        return max(self.min_bytes, self.ratio * artifact_size)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_digest(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise HostOpError(
            f"artifact digest mismatch: expected sha256 {expected[:16]}..., got {actual[:16]}...",
            hint="the upload was corrupted or tampered with; nothing was unpacked. Deploy again.",
        )


class _Refused(Exception):
    def __init__(self, member: str, why: str) -> None:
        super().__init__(f"member {member!r}: {why}")


class _TooBig(Exception):
    pass


class _HeaderTooBig(Exception):
    pass


class _CappedReader:
    """The decompressed archive, read-only, raising _TooBig past `limit` bytes (tar
    headers included), and _HeaderTooBig past `next_limit`: what may be read before
    tarfile hands over the next member (the current member's data, then a header of at
    most MAX_HEADER_BYTES, which tarfile holds in memory whole)."""

    def __init__(self, raw: gzip.GzipFile, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.count = 0
        self.next_limit = MAX_HEADER_BYTES

    def member_seen(self, member: tarfile.TarInfo) -> None:
        blocks = -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        self.next_limit = self.count + blocks + MAX_HEADER_BYTES

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size if size >= 0 else _CHUNK)
        self.count += len(data)
        if self.count > self.limit:
            raise _TooBig()
        if self.count > self.next_limit:
            raise _HeaderTooBig()
        return data


def safe_unpack(archive: Path, dest: Path, limits: UnpackLimits | None = None) -> None:
    """Extract a .tar.gz into the empty directory dest, or raise HostOpError naming the
    member refused (dest may then hold part of the artifact: the caller removes it)."""
    limits = limits or UnpackLimits()
    max_bytes = limits.max_bytes(archive.stat().st_size)
    try:
        with gzip.open(archive, "rb") as raw:
            reader = _CappedReader(raw, max_bytes + _CHUNK)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                _Unpacker(str(dest.resolve(strict=True)), tar, reader, limits, max_bytes).run()
    except _Refused as exc:
        raise HostOpError(f"refused to unpack the artifact: {exc}", hint=_REFUSED_HINT) from None
    except _TooBig:
        raise _too_big(max_bytes, limits) from None
    except _HeaderTooBig:
        raise HostOpError(
            "refused to unpack the artifact: a member's tar headers are over "
            f"{MAX_HEADER_BYTES // 1024} KiB",
            hint=_REFUSED_HINT,
        ) from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise HostOpError(
            f"refused to unpack the artifact: it is not a readable .tar.gz ({exc})",
            hint=_REFUSED_HINT,
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


def _too_big(max_bytes: int, limits: UnpackLimits) -> HostOpError:
    return HostOpError(
        f"refused to unpack the artifact: it unpacks to more than {max_bytes // (1024 * 1024)} "
        f"MiB ({limits.ratio} times its size, at least {limits.min_bytes // (1024 * 1024)} MiB)",
        hint=_REFUSED_HINT,
    )


class _Unpacker:
    def __init__(
        self,
        root: str,
        tar: tarfile.TarFile,
        reader: _CappedReader,
        limits: UnpackLimits,
        max_bytes: int,
    ) -> None:
        self.root = root
        self.tar = tar
        self.reader = reader
        self.limits = limits
        self.max_bytes = max_bytes
        self.total = 0
        self.links: list[tuple[str, list[str]]] = []  # (member name, where it was made)
        self.dirs: list[tuple[list[str], tarfile.TarInfo]] = []

    def run(self) -> None:
        for count, member in enumerate(self.tar, start=1):
            self.reader.member_seen(member)
            if count > self.limits.max_members:
                raise _Refused(
                    member.name, f"is one more than the {self.limits.max_members} members allowed"
                )
            try:
                self._unpack(member)
            except OSError as exc:
                if exc.errno not in _MEMBER_ERRORS:
                    raise
                raise _Refused(member.name, f"cannot be unpacked ({exc.strerror})") from None
        for name, where in self.links:  # a later member may have changed where a link leads
            self._inside(
                name, [*where[:-1], *split(os.readlink(self._path(where)))], "its link target"
            )
        for where, member in reversed(self.dirs):  # children first: a read-only dir is last
            self._finish(member, self._path(where), _dir_mode(member.mode))

    def _path(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts)

    def _inside(self, name: str, parts: list[str], what: str = "its path") -> list[str]:
        try:
            return resolve_inside(self.root, parts)
        except Escapes as exc:
            raise _Refused(name, f"{what} {exc}") from None

    def _unpack(self, member: tarfile.TarInfo) -> None:
        name = member.name
        if "\0" in name or "\0" in member.linkname:
            raise _Refused(name, "has a NUL byte in its name")
        if name.startswith("/"):
            raise _Refused(name, "has an absolute path")
        parts = split(name)
        if ".." in parts:
            raise _Refused(name, "has `..` in its path")
        if not parts:
            if member.isdir():
                return  # the archive's own top directory, `./`
            raise _Refused(name, "has an empty name")
        if member.mode & (stat.S_ISUID | stat.S_ISGID):
            raise _Refused(name, f"has the setuid or setgid bit (mode {member.mode:o})")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise _Refused(name, f"is a {_kind(member)}: only files, directories and links")
        where = [*self._inside(name, parts[:-1]), parts[-1]]
        parent = self._path(where[:-1])
        os.makedirs(parent, mode=0o755, exist_ok=True)
        path = self._path(where)
        if os.path.lexists(path):
            if member.isdir() and stat.S_ISDIR(os.lstat(path).st_mode):
                self.dirs.append((where, member))
                return
            raise _Refused(name, "is in the archive twice")
        if member.isdir():
            os.mkdir(path, 0o700)
            self.dirs.append((where, member))
        elif member.issym():
            self._symlink(member, where, path)
        elif member.islnk():
            self._hardlink(member, path)
        else:
            self._file(member, path)

    def _symlink(self, member: tarfile.TarInfo, where: list[str], path: str) -> None:
        target = member.linkname
        if not target or target.startswith("/"):
            raise _Refused(member.name, f"is a link to {target!r}: an absolute or empty target")
        self._inside(member.name, [*where[:-1], *split(target)], "its link target")
        os.symlink(target, path)
        self.links.append((member.name, where))

    def _hardlink(self, member: tarfile.TarInfo, path: str) -> None:
        target = member.linkname
        if target.startswith("/") or ".." in split(target):
            raise _Refused(member.name, f"is a hard link to {target!r}, outside the release")
        source = self._path(self._inside(member.name, split(target), "its hard link target"))
        try:
            mode = os.lstat(source).st_mode
        except FileNotFoundError:
            raise _Refused(
                member.name, f"is a hard link to {target!r}, not unpacked before"
            ) from None
        if not stat.S_ISREG(mode):
            raise _Refused(member.name, f"is a hard link to {target!r}, which is not a file")
        os.link(source, path, follow_symlinks=False)

    def _file(self, member: tarfile.TarInfo, path: str) -> None:
        self.total += member.size
        if self.total > self.max_bytes:
            raise _TooBig()
        source = self.tar.extractfile(member)
        assert source is not None  # a regular file always has contents
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            while block := source.read(_CHUNK):
                out.write(block)
        self._finish(member, path, _file_mode(member.mode))

    @staticmethod
    def _finish(member: tarfile.TarInfo, path: str, mode: int) -> None:
        os.chmod(path, mode, follow_symlinks=False)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _file_mode(mode: int) -> int:
    """Like tarfile's `data` filter: the owner can read and write; nobody else writes."""
    return (mode & 0o755) | 0o600


def _dir_mode(mode: int) -> int:
    return (mode & 0o755) | 0o700


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "fifo"
    return f"special member (tar type {member.type!r})"
