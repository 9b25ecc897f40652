"""Pure: which release directories a cleanup removes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class ReleaseDir:
    name: str
    prepared_at: float  # when the host prepared it (its directory's mtime if unrecorded)


def releases_to_remove(
    dirs: list[ReleaseDir], *, keep: int, bad: Collection[str], protected: Collection[str]
) -> list[str]:
    """Keep the newest `keep` directories, counting releases that failed last (a bad
    release never pushes out a good one); never remove a protected one (a slot runs it,
    or it is the rollback target). Returns the names to remove, oldest kept order."""
    ranked = sorted(dirs, key=lambda d: (d.name not in bad, d.prepared_at), reverse=True)
    return [d.name for d in ranked[keep:] if d.name not in protected]
