"""The dump of a PostgreSQL source kept on the host (`backup.local_copy`): kept after a
backup, dropped when local_copy is off, and pinned for a restore (the choice of which
dump a restore reads: `shipyard.plan.local_dump`).

A new copy replaces the old one by rename, never by writing into it, and a restore
hashes and reads a hard link of the copy in its own scratch directory: pg_restore reads
exactly the bytes that were checked, even if a backup replaces the copy meanwhile.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from shipyard.host.postgres import DUMP
from shipyard.plan.layout import Layout
from shipyard.plan.local_dump import ABSENT, LocalCopy


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


def pin(layout: Layout, source: str, scratch: Path) -> LocalCopy:
    """Hard-link the local copy into `scratch` (as `scratch/db.pgdump`, what pg_restore
    then reads) and hash the link."""
    local = layout.backup_local_copy(source) / DUMP
    if not local.is_file():
        return ABSENT
    pinned = scratch / DUMP
    try:
        os.link(local, pinned)
        with pinned.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        pinned.unlink(missing_ok=True)
        return LocalCopy(present=True, error=exc.strerror or str(exc))
    return LocalCopy(present=True, sha256=digest)
