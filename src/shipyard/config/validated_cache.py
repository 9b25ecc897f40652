"""A cache of validated configurations: a command skips the YAML reader and the model
builds when nothing that validation reads has changed (docs/configuration.md, "The
validated-configuration cache").

An entry is keyed by the digest of every input: the bytes of shipyard.yml (it includes
no other file), its resolved path and the home directory (relative roots and `~` are
resolved against them), Shipyard's version and the size and modification time of every
one of its source files (an edited checkout is a different Shipyard), Python's and
pydantic's versions. A change to any of them is a different key, so an entry is never
invalidated in place: it is simply not found. Only a successful validation is stored, so
every error is found again, and reported the same way, by validating.

What an entry holds: the parsed document, the line of each key, and the validated models.
A host's recorded runtime spec (config/runtime.py) is kept the same way, keyed by its
JSON text: `status` and `rollback` validate the active or target release's on every run.
The configuration names its secrets (`from_env`, `from_file`) and holds only hashes of
passwords; a secret's value is read by `resolve_secrets` at the moment it is used and is
never part of a model, so no secret value is ever written here.

The format is pickle, which can run code when it is loaded, so an entry is only read from
a directory that belongs to this user and that nobody else may write (mode 0700), and
only from a file of this user's that nobody else may read or write. Anything else, or an
entry that does not load, counts as a miss. `SHIPYARD_CONFIG_CACHE=off` turns it off;
`SHIPYARD_CONFIG_CACHE=DIR` puts it in DIR (default `$XDG_CACHE_HOME/shipyard/config`,
else `~/.cache/shipyard/config`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import __version__

if TYPE_CHECKING:
    from shipyard.config.model import Document, Environment
    from shipyard.config.yaml_reader import KeyPath

FORMAT = 1  # of an entry; part of the key
KEEP_ENTRIES = 32  # the entries used last are kept; others go when one is written
OFF = ("off", "0", "false", "no")
PACKAGE = Path(__file__).resolve().parent.parent  # .../shipyard


@dataclass
class Entry:
    """What one configuration file validated to."""

    data: dict[str, Any]
    lines: dict[KeyPath, int]
    document: Document
    environments: dict[str, Environment] = field(default_factory=dict)


def directory() -> Path | None:
    """Where entries live; None when the cache is turned off."""
    chosen = os.environ.get("SHIPYARD_CONFIG_CACHE", "")
    if chosen.lower() in OFF:
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "shipyard" / "config"


def key(text: str, path: Path) -> str:
    """The digest of everything validating `text` as the file at `path` depends on."""
    return _digest("shipyard.yml", str(path.resolve()), os.path.expanduser("~"), text)


def value_key(kind: str, data: object) -> str:
    """The digest for validating JSON `data` as a `kind` (a host's recorded runtime
    spec): the data and Shipyard itself are all such a validation reads."""
    return _digest(kind, json.dumps(data, sort_keys=True, separators=(",", ":")))


def _digest(*inputs: str) -> str:
    from pydantic.version import VERSION as PYDANTIC_VERSION

    digest = hashlib.sha256()
    for part in (str(FORMAT), __version__, sys.version, PYDANTIC_VERSION, _code_fingerprint()):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    for part in inputs:
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


@functools.cache
def _code_fingerprint() -> str:
    """Each of Shipyard's source files with its size and modification time (once per
    process: the code that runs does not change under it)."""
    found: list[str] = []

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for item in entries:
                if item.is_dir(follow_symlinks=False):
                    if item.name != "__pycache__":
                        walk(item.path)
                elif item.name.endswith(".py"):
                    info = item.stat()
                    found.append(f"{item.path}:{info.st_size}:{info.st_mtime_ns}")

    walk(str(PACKAGE))
    return "\n".join(sorted(found))


def _private_dir(folder: Path) -> bool:
    """A real directory of this user's that nobody else may use."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.getuid()
        and stat.S_IMODE(info.st_mode) & 0o077 == 0
    )


def read(digest: str) -> object | None:
    """The entry for `digest`, or None (missing, not safe to load, or unreadable); the
    caller checks that it is of the type it stored."""
    folder = directory()
    if folder is None or not _private_dir(folder):
        return None
    try:
        fd = os.open(folder / f"{digest}.pickle", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.getuid()
            or stat.S_IMODE(info.st_mode) & 0o077
        ):
            return None
        try:
            entry: object = pickle.load(file)  # noqa: S301 - an owner-only file, checked above
        except Exception:  # any unreadable entry is a miss
            return None
        with contextlib.suppress(OSError):
            os.utime(file.fileno())  # used now: pruning keeps the entries in use
    return entry


def write(digest: str, entry: object) -> None:
    """Store `entry` (best effort: a cache that cannot be written is no cache)."""
    folder = directory()
    if folder is None:
        return
    with contextlib.suppress(OSError):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private_dir(folder):
        return
    temporary = folder / f".{digest}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as file:
            pickle.dump(entry, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, folder / f"{digest}.pickle")
    except Exception:  # best effort: not written is a later miss
        with contextlib.suppress(OSError):
            temporary.unlink()
        return
    _prune(folder)


def _prune(folder: Path) -> None:
    """Keep the KEEP_ENTRIES entries used last (a hit marks its entry used)."""
    with contextlib.suppress(OSError):
        entries = sorted(
            (item.stat().st_mtime_ns, item.path)
            for item in os.scandir(folder)
            if item.name.endswith(".pickle")
        )
        for _, old in entries[:-KEEP_ENTRIES]:
            with contextlib.suppress(OSError):
                os.unlink(old)
