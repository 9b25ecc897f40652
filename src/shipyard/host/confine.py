"""Resolve a relative path inside a directory the way the kernel would, failing closed.

`os.path.realpath` gives up quietly on paths it cannot resolve (too long, too many
links) and returns the rest as text: that is how CVE-2025-4517 walks a long symlink
chain out of a tar's destination. `resolve_inside` follows every link that exists,
one component at a time, and raises `Escapes` as soon as the walk would leave the
root, meets an absolute link, loops, or cannot be checked.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_LINK_HOPS = 40  # the kernel's own limit on symlinks followed in one lookup


class Escapes(Exception):
    """The path leaves the root, or cannot be proven not to; `str()` says why."""


def split(path: str) -> list[str]:
    """A relative path's meaningful components (no empty parts, no `.`)."""
    return [part for part in path.split("/") if part not in ("", ".")]


def resolve_inside(root: str, parts: list[str]) -> list[str]:
    """The physical components under `root` that `parts` leads to, following every
    symlink that exists now. Parts that do not exist yet are taken literally."""
    resolved: list[str] = []
    pending = list(parts)
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise Escapes("leads above the release directory")
            resolved.pop()
            continue
        here = os.path.join(root, *resolved, part)
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            resolved.append(part)
            continue
        except OSError as exc:
            if exc.errno == errno.ENOTDIR:
                raise Escapes(
                    f"goes through {'/'.join(resolved)!r}, which is not a directory"
                ) from None
            raise Escapes(
                f"cannot be resolved ({exc.strerror}), so it may lead outside the release directory"
            ) from None
        if not stat.S_ISLNK(mode):
            resolved.append(part)
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise Escapes(f"goes through more than {MAX_LINK_HOPS} symbolic links")
        target = os.readlink(here)
        if target.startswith("/"):
            link = "/".join([*resolved, part])
            raise Escapes(f"goes through {link!r}, a link to an absolute path")
        pending[:0] = target.split("/")
    return resolved
