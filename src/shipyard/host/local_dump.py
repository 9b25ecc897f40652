"""The dump of a PostgreSQL source kept on the host (`backup.local_copy`): kept after a
backup, dropped when local_copy is off, and pinned for a restore when its sha256 is the
snapshot's (the choice: `shipyard.plan.local_dump`).

A new copy replaces the old one by rename, never by writing into it, so a restore that
pinned the old one (a hard link in its scratch directory) reads what it hashed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from shipyard.host.postgres import DUMP
from shipyard.plan import local_dump as plan
from shipyard.plan.layout import Layout

CHUNK = 1024 * 1024


def keep(layout: Layout, source: str, dump: Path) -> Path:
    """Move a fresh `dump` (already stored by restic) into the source's local copy."""
    directory = layout.backup_local_copy(source)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    dump.chmod(0o600)
    target = directory / DUMP
    os.replace(dump, target)  # same file system: backups/ holds staging and local
    return target


def drop(layout: Layout, source: str) -> None:
    """No local copy of `source` (local_copy is off): its disk and its plain copy go."""
    shutil.rmtree(layout.backup_local_copy(source), ignore_errors=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pin(
    layout: Layout, source: str, enabled: bool, tagged: str | None, scratch: Path
) -> plan.DumpChoice:
    """Decide which dump a restore reads. When it is the local copy, it is hard-linked
    into `scratch` (as `scratch/db.pgdump`) before it is hashed: pg_restore reads exactly
    the bytes that were checked, even if a backup replaces the copy meanwhile."""
    local = layout.backup_local_copy(source) / DUMP
    early = plan.before_hashing(enabled, tagged, local.is_file())
    if early is not None or tagged is None:
        return early or plan.NO_TAG
    pinned = scratch / DUMP
    try:
        os.link(local, pinned)
        digest = sha256(pinned)
    except OSError as exc:
        pinned.unlink(missing_ok=True)
        return plan.unusable(exc.strerror or str(exc))
    choice = plan.compare(tagged, digest)
    if not choice.local:
        pinned.unlink(missing_ok=True)
    return choice
