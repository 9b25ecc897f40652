"""Where a PostgreSQL restore reads its dump from: the copy kept on the host
(`backup.local_copy`), or restic. Pure.

The local copy is used only when its sha256 is the one recorded when the snapshot was
taken (the backup's record in the host's state.db, or else the snapshot's tag): then it
holds exactly the bytes restic would give back, and pg_restore reads it from local disk
instead of out of restic's packs. The hash is taken as pg_restore reads the copy, and
pg_restore cannot commit before the whole copy matched (`shipyard.host.checked_feed`).
Any doubt (no copy, no recorded sha256, another hash, a copy that cannot be read) and the
restore streams from restic, as it does without `local_copy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TAG = "dump_sha256"  # the snapshot's tag: sha256 of the dump file in it

FROM_LOCAL = "local copy"
FROM_RESTIC = "restic"


@dataclass(frozen=True)
class LocalCopy:
    """What the host found of its local copy: there or not, the sha256 it was kept
    with (a claim, written next to it: the hash is checked as it is read), or why it
    could not be pinned."""

    present: bool
    sha256: str | None = None
    error: str | None = None


ABSENT = LocalCopy(present=False)


@dataclass(frozen=True)
class DumpChoice:
    """Which dump a restore reads, and why (said in the output and the record)."""

    local: bool
    why: str

    @property
    def read_from(self) -> str:
        return FROM_LOCAL if self.local else FROM_RESTIC


OFF = DumpChoice(local=False, why="")
NO_TAG = DumpChoice(local=False, why="no sha256 of the snapshot's dump was recorded")
NO_COPY = DumpChoice(local=False, why="no local copy of the dump on this host")
MATCH = DumpChoice(local=True, why="its sha256 is the snapshot's")
OTHER = DumpChoice(local=False, why="the local copy is of another backup")
MISMATCH = DumpChoice(
    local=False,
    why="the local copy's sha256 is not the snapshot's (a copy of another backup, or damaged)",
)


def recorded_sha256(
    checksums: Mapping[str, str] | None, tags: Mapping[str, str] | None, dump: str
) -> str | None:
    """The sha256 of the snapshot's dump as recorded when it was taken: the backup's own
    record on this host, else the snapshot's tag (a snapshot this host has no record of)."""
    if checksums is not None:
        return checksums.get(dump)
    return (tags or {}).get(TAG) or None


def choose(enabled: bool, recorded: str | None, copy: LocalCopy) -> DumpChoice:
    """Try the local copy if local_copy is on, the copy is there and the snapshot's
    sha256 is known (the copy is then checked as it is read: `checked`); restic
    otherwise."""
    if not enabled:
        return OFF
    if not recorded:
        return NO_TAG
    if not copy.present:
        return NO_COPY
    if copy.error is not None:
        return DumpChoice(local=False, why=f"the local copy could not be read: {copy.error}")
    if copy.sha256 is not None and copy.sha256.lower() != recorded.lower():
        return OTHER  # e.g. an older snapshot: the copy is of the newest backup
    return MATCH


def checked(matched: bool) -> DumpChoice:
    """After the local copy was fed to pg_restore: used (its sha256 was the recorded
    one), or not (pg_restore was stopped before it could commit; restic instead)."""
    return MATCH if matched else MISMATCH
