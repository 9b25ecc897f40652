"""The dump of a PostgreSQL source kept on the host (`backup.local_copy`): kept after a
backup, dropped when local_copy is off, and pinned for a restore (the choice of which
dump a restore reads: `shipyard.plan.local_dump`).

A new copy replaces the old one by rename, never by writing into it, and a restore
reads (and hashes as it reads: `shipyard.host.checked_feed`) a hard link of the copy in
its own scratch directory, so a backup replacing the copy meanwhile changes nothing of
what the restore reads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from shipyard.host.postgres import DUMP
from shipyard.plan.layout import Layout
from shipyard.plan.local_dump import ABSENT, LocalCopy

SHA256 = DUMP + ".sha256"  # next to the copy: the sha256 it was kept with


def keep(layout: Layout, source: str, dump: Path, sha256: str) -> Path:
    """Move a fresh `dump` (already stored by restic) into the source's local copy, and
    note its sha256 next to it (so that a restore of another snapshot need not read it)."""
    directory = layout.backup_local_copy(source)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    dump.chmod(0o600)
    target = directory / DUMP
    os.replace(dump, target)  # same file system: backups/ holds staging and local
    note = directory / (SHA256 + ".new")
    note.write_text(sha256 + "\n")
    os.replace(note, directory / SHA256)
    return target


def drop(layout: Layout, source: str) -> None:
    """No local copy of `source` (local_copy is off): its disk and its plain copy go."""
    shutil.rmtree(layout.backup_local_copy(source), ignore_errors=True)


def pin(layout: Layout, source: str, scratch: Path) -> LocalCopy:
    """Hard-link the local copy into `scratch` (as `scratch/db.pgdump`, what pg_restore
    then reads), with the sha256 it was kept with (read after the link: a backup that
    replaced the copy in between makes the restore's check fail, never pass)."""
    local = layout.backup_local_copy(source) / DUMP
    if not local.is_file():
        return ABSENT
    pinned = scratch / DUMP
    try:
        os.link(local, pinned)
    except OSError as exc:
        pinned.unlink(missing_ok=True)
        return LocalCopy(present=True, error=exc.strerror or str(exc))
    try:
        noted = (local.parent / SHA256).read_text().strip() or None
    except OSError:
        noted = None  # a copy kept before the note existed: checked as it is read
    return LocalCopy(present=True, sha256=noted)
