"""Where a PostgreSQL restore reads its dump from: the copy kept on the host
(`backup.local_copy`), or restic. Pure.

The local copy is used only when its sha256 is the one the snapshot was tagged with when
it was taken: then it holds exactly the bytes restic would give back, and pg_restore reads
it from local disk (as a plain pg_restore would) instead of out of restic's packs. Any
doubt (no copy, no tag, another hash, a copy that cannot be read) and the restore streams
from restic, as it does without `local_copy`.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG = "dump_sha256"  # the snapshot's tag: sha256 of the dump file in it

FROM_LOCAL = "local copy"
FROM_RESTIC = "restic"


@dataclass(frozen=True)
class LocalCopy:
    """What the host found of its local copy: there or not, its sha256, or why it could
    not be read."""

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
NO_TAG = DumpChoice(
    local=False, why="the snapshot carries no sha256 of its dump (taken without local_copy)"
)
NO_COPY = DumpChoice(local=False, why="no local copy of the dump on this host")
MATCH = DumpChoice(local=True, why="its sha256 is the snapshot's")
MISMATCH = DumpChoice(
    local=False,
    why="the local copy's sha256 is not the snapshot's (a copy of another backup, or damaged)",
)


def choose(enabled: bool, tagged: str | None, copy: LocalCopy) -> DumpChoice:
    """The local copy only if local_copy is on and it is byte for byte the snapshot's
    dump (its sha256 is the snapshot's tag); restic otherwise."""
    if not enabled:
        return OFF
    if not tagged:
        return NO_TAG
    if not copy.present:
        return NO_COPY
    if copy.error is not None or copy.sha256 is None:
        return DumpChoice(local=False, why=f"the local copy could not be read: {copy.error}")
    return MATCH if copy.sha256.lower() == tagged.lower() else MISMATCH
