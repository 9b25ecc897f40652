"""Where a PostgreSQL restore reads its dump from: the copy kept on the host
(`backup.local_copy`), or restic. Pure.

The local copy is used only when its sha256 is the one the snapshot was tagged with when
it was taken: then it holds exactly the bytes restic would give back, and pg_restore reads
it from local disk (as a plain pg_restore would) instead of out of restic's packs. Any
doubt (no copy, no tag, another hash) and the restore streams from restic, as it does
without `local_copy`.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG = "dump_sha256"  # the snapshot's tag: sha256 of the dump file in it

FROM_LOCAL = "local copy"
FROM_RESTIC = "restic"


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


def before_hashing(enabled: bool, tagged: str | None, present: bool) -> DumpChoice | None:
    """The choice when it needs no hashing; None: hash the local copy and `compare`."""
    if not enabled:
        return OFF
    if not tagged:
        return NO_TAG
    if not present:
        return NO_COPY
    return None


def compare(tagged: str, local_sha256: str) -> DumpChoice:
    """The local copy, only if it is byte for byte the snapshot's dump."""
    return MATCH if local_sha256.lower() == tagged.lower() else MISMATCH


def unusable(reason: str) -> DumpChoice:
    """The local copy is there but could not be read (`reason`: the system's words)."""
    return DumpChoice(local=False, why=f"the local copy could not be read: {reason}")
