"""Crafted artifacts through the host's unpacker: none writes outside the release
directory, each is refused with a message naming the member (issue 8, item 5).

The checks must not depend on tarfile's `data` filter (bypassable on Python 3.11.7 by a
long symlink chain, CVE-2025-4517), so the chain's shape is one of the cases.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.host.errors import HostOpError
from shipyard.host.unpack import UnpackLimits, safe_unpack


@dataclass
class M:
    """One member of a crafted archive."""

    name: str
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    data: bytes = b"x"
    mode: int = 0o644
    size: int | None = None  # a header that lies about the size


def archive_bytes(members: list[M]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type, info.linkname, info.mode = m.kind, m.link, m.mode
            if m.kind == tarfile.REGTYPE:
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
            else:
                tar.addfile(info)
    data = raw.getvalue()
    for m in members:  # rewrite a lying size field after the fact (checksum included)
        if m.size is not None:
            data = _lie_about_size(data, m.name, m.size)
    return data


def _lie_about_size(data: bytes, name: str, size: int) -> bytes:
    buf = bytearray(data)
    for offset in range(0, len(buf), 512):
        if buf[offset : offset + 100].rstrip(b"\0") == name.encode():
            buf[offset + 124 : offset + 136] = b"%011o\0" % size
            buf[offset + 148 : offset + 156] = b" " * 8
            checksum = sum(buf[offset : offset + 512])
            buf[offset + 148 : offset + 156] = b"%06o\0 " % checksum
            return bytes(buf[: offset + 512])  # no data follows: it must never be read
    raise AssertionError(f"{name} not in the archive")


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """tmp_path/box holds dest/ (the release directory) and outside/ (must stay as is)."""
    (tmp_path / "box" / "dest").mkdir(parents=True)
    (tmp_path / "box" / "outside").mkdir()
    (tmp_path / "box" / "outside" / "victim").write_text("untouched")
    return tmp_path / "box"


def everything_outside(box: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under box but outside dest, with its mode and (for files) contents."""
    seen = {}
    for path in sorted(box.parent.rglob("*")):
        if box / "dest" in (path, *path.parents) or path.name == "a.tgz":
            continue
        st = path.lstat()
        body = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        seen[str(path)] = (st.st_mode, body)
    return seen


def unpack(box: Path, members: list[M], limits: UnpackLimits | None = None) -> None:
    archive = box.parent / "a.tgz"
    archive.write_bytes(gzip.compress(archive_bytes(members)))
    safe_unpack(archive, box / "dest", limits)


def refused(box: Path, members: list[M], limits: UnpackLimits | None = None) -> str:
    before = everything_outside(box)
    with pytest.raises(HostOpError) as caught:
        unpack(box, members, limits)
    assert everything_outside(box) == before, "something was written outside the release"
    return str(caught.value)


def cve_2025_4517_chain() -> list[M]:
    """The published shape: 16 short links, each to a 247-character directory, make a path
    whose real length passes PATH_MAX, where os.path.realpath stops resolving; a link then
    climbs out through it, and a file is written through that link."""
    long = "d" * 247
    steps = "abcdefghijklmnop"
    members, path = [], ""
    for step in steps:
        members.append(M(os.path.join(path, long), tarfile.DIRTYPE, mode=0o755))
        members.append(M(os.path.join(path, step), tarfile.SYMTYPE, link=long))
        path = os.path.join(path, long)
    linkpath = os.path.join(*steps, "l" * 254)
    members.append(M(linkpath, tarfile.SYMTYPE, link="../" * len(steps)))
    members.append(M("escape", tarfile.SYMTYPE, link=linkpath + "/../../outside"))
    members.append(M("escape/victim", data=b"overwritten"))
    return members


HOSTILE: dict[str, tuple[Callable[[], list[M]], str]] = {
    "dotdot": (lambda: [M("ok.py"), M("../outside/new")], "'../outside/new': has `..`"),
    "dotdot-inside-a-path": (lambda: [M("a/../../outside/new")], "has `..`"),
    "absolute-path": (lambda: [M("/tmp/shipyard-absolute-escape")], "has an absolute path"),
    "absolute-symlink": (
        lambda: [M("link", tarfile.SYMTYPE, link="/etc")],
        "'link': is a link to '/etc'",
    ),
    "relative-symlink-out": (
        lambda: [M("a/link", tarfile.SYMTYPE, link="../../outside")],
        "'a/link': its link target leads above the release directory",
    ),
    "write-through-a-symlink-to-the-parent": (
        lambda: [M("up", tarfile.SYMTYPE, link=".."), M("up/outside/victim", data=b"no")],
        "'up'",
    ),
    "symlink-chain-out": (
        lambda: [
            M("sub/l", tarfile.SYMTYPE, link=".."),  # inside: the release itself
            M("sub/l2", tarfile.SYMTYPE, link="l/.."),  # one above it
            M("sub/l2/outside/victim", data=b"no"),
        ],
        "'sub/l2': its link target leads above",
    ),
    "symlink-made-to-point-out-by-a-later-member": (
        lambda: [
            M("sub/a", tarfile.SYMTYPE, link="b/../.."),  # b does not exist yet: inside
            M("sub/b", tarfile.SYMTYPE, link=".."),  # now sub/a leads above the release
        ],
        "'sub/a': its link target leads above",
    ),
    "symlink-loop": (
        lambda: [
            M("x", tarfile.SYMTYPE, link="y"),
            M("y", tarfile.SYMTYPE, link="x"),
            M("x/file"),
        ],
        "more than 40 symbolic links",
    ),
    "replace-a-file-with-a-link": (
        lambda: [M("app.py"), M("app.py", tarfile.SYMTYPE, link="../outside/victim")],
        "'app.py'",
    ),
    "member-written-through-an-earlier-inside-link-twice": (
        lambda: [M("d", tarfile.DIRTYPE), M("d/f"), M("d/f", data=b"again")],
        "'d/f': is in the archive twice",
    ),
    "hardlink-absolute": (
        lambda: [M("h", tarfile.LNKTYPE, link="/etc/passwd")],
        "'h': is a hard link to '/etc/passwd'",
    ),
    "hardlink-dotdot": (
        lambda: [M("h", tarfile.LNKTYPE, link="../outside/victim")],
        "'h': is a hard link to '../outside/victim'",
    ),
    "hardlink-through-a-symlink-out": (
        lambda: [M("up", tarfile.SYMTYPE, link="sub/../.."), M("h", tarfile.LNKTYPE, link="up")],
        "'up'",
    ),
    "hardlink-to-a-directory": (
        lambda: [M("d", tarfile.DIRTYPE), M("h", tarfile.LNKTYPE, link="d")],
        "which is not a file",
    ),
    "hardlink-to-nothing": (
        lambda: [M("h", tarfile.LNKTYPE, link="missing")],
        "not unpacked before",
    ),
    "cve-2025-4517-long-symlink-chain": (cve_2025_4517_chain, "member '"),
    "character-device": (lambda: [M("tty", tarfile.CHRTYPE)], "'tty': is a device"),
    "block-device": (lambda: [M("sda", tarfile.BLKTYPE)], "'sda': is a device"),
    "fifo": (lambda: [M("pipe", tarfile.FIFOTYPE)], "'pipe': is a fifo"),
    "setuid-file": (lambda: [M("su", mode=0o4755)], "'su': has the setuid or setgid bit"),
    "setgid-directory": (
        lambda: [M("shared", tarfile.DIRTYPE, mode=0o2775)],
        "'shared': has the setuid or setgid bit",
    ),
    "a-header-claiming-8-GB": (
        lambda: [M("ok.py"), M("huge.bin", size=8 * 1024**3 - 1)],
        "unpacks to more than 64 MiB",
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_a_hostile_artifact_is_refused_with_the_member_named_and_nothing_outside_changes(
    box: Path, case: str
) -> None:
    members, expected = HOSTILE[case]
    message = refused(box, members())
    assert "refused to unpack the artifact" in message
    assert expected in message
    assert not Path("/tmp/shipyard-absolute-escape").exists()


def test_a_size_bomb_is_refused_once_it_passes_the_ratio_to_the_artifact_size(
    box: Path,
) -> None:
    bomb = [M("zeros.bin", data=bytes(4 * 1024 * 1024))]  # ~4 KB compressed
    message = refused(box, bomb, UnpackLimits(ratio=100, min_bytes=1024 * 1024))
    assert "unpacks to more than 1 MiB (100 times its size" in message
    assert not (box / "dest" / "zeros.bin").exists() or (
        (box / "dest" / "zeros.bin").stat().st_size == 0
    )


def test_a_member_count_bomb_is_refused_at_the_first_member_over_the_cap(box: Path) -> None:
    many = [M(f"f{i}", data=b"") for i in range(101)]
    message = refused(box, many, UnpackLimits(max_members=100))
    assert "member 'f100': is one more than the 100 members allowed" in message


def test_a_pax_header_bomb_is_refused_before_it_is_held_in_memory(box: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("ok.py")
        info.pax_headers = {"comment": "x" * (8 * 1024 * 1024)}
        tar.addfile(info, io.BytesIO(b""))
    archive = box.parent / "a.tgz"
    archive.write_bytes(gzip.compress(raw.getvalue()))
    before = everything_outside(box)
    with pytest.raises(HostOpError, match="tar headers are over 1024 KiB"):
        safe_unpack(archive, box / "dest")
    assert everything_outside(box) == before


def test_a_file_that_is_not_a_tar_gz_is_refused_as_unreadable(box: Path) -> None:
    archive = box.parent / "a.tgz"
    archive.write_bytes(b"not gzip at all")
    with pytest.raises(HostOpError, match=r"not a readable \.tar\.gz"):
        safe_unpack(archive, box / "dest")


def test_an_ordinary_artifact_unpacks_with_modes_links_inside_and_hardlinks(box: Path) -> None:
    unpack(
        box,
        [
            M("./", tarfile.DIRTYPE, mode=0o755),
            M("bin", tarfile.DIRTYPE, mode=0o755),
            M("bin/run", data=b"#!/bin/sh\n", mode=0o775),
            M("src/app.py", data=b"print(1)\n", mode=0o666),
            M("lib", tarfile.SYMTYPE, link="src"),
            M("lib/extra.py", data=b"extra\n"),  # written through an inside link
            M("src/again.py", tarfile.LNKTYPE, link="src/app.py"),
            M("current", tarfile.SYMTYPE, link="./bin/../src/app.py"),
            M("ro", tarfile.DIRTYPE, mode=0o555),
            M("ro/inside.txt", data=b"in a read-only directory\n", mode=0o444),
        ],
    )
    dest = box / "dest"
    assert (dest / "src" / "extra.py").read_bytes() == b"extra\n"
    assert (dest / "current").read_bytes() == b"print(1)\n"
    assert (dest / "src" / "again.py").stat().st_ino == (dest / "src" / "app.py").stat().st_ino
    assert stat.S_IMODE((dest / "bin" / "run").stat().st_mode) == 0o755  # no group write
    assert stat.S_IMODE((dest / "src" / "app.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o755  # the owner keeps write
    assert (dest / "ro" / "inside.txt").read_text() == "in a read-only directory\n"
