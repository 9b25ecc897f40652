"""BACKUP: run, list, verify, restore and prune backups of an environment's data, and
read the database's write counters (what a pre-migration backup has missed since).

Everything is stored through restic on the primary host. Every request carries the
repository (with its password and any S3 keys) and the sources' connection values:
secrets travel on the agent's stdin, never in a command line, and reach restic and the
PostgreSQL tools through their environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipyard.protocol.codec import Json
from shipyard.protocol.op import Op

SourceKind = Literal["postgres", "sqlite", "directory"]


@dataclass(frozen=True)
class RepositorySpec:
    """Where restic stores: `url` (a local path or an `s3:` URL; None: the environment's
    default under `<env>/backups/restic`), its password, and extra environment (S3 keys)."""

    url: str | None
    password: str
    env_values: dict[str, str]


@dataclass(frozen=True)
class SourceSpec:
    """One source: a PostgreSQL database (`url`, a libpq URL), a SQLite file or a
    directory (`path`, relative to shared/). `local_copy` (PostgreSQL only): a backup
    keeps its dump on the host too, and a restore of that snapshot reads it from there."""

    name: str
    kind: SourceKind
    url: str | None
    path: str | None
    local_copy: bool = False


@dataclass(frozen=True)
class CheckSpec:
    """A verify check of one source: `sql` whose first value must equal `expect`, or at
    least `min_files` files under `path` of the restored copy."""

    source: str
    sql: str | None
    expect: str | None
    min_files: int | None
    path: str


@dataclass(frozen=True)
class BackupRecord:
    """One backup as the host's state records it (and restic stores it)."""

    snapshot_id: str
    source: str
    kind: SourceKind
    reason: str  # manual | pre-migration | schedule
    deployment_id: str | None
    started_at: float
    duration: float
    size_bytes: int  # bytes the source's dump or files amount to
    added_bytes: int  # bytes restic added to the repository (after dedup, compression)
    checksums: dict[str, str]  # file in the snapshot -> sha256
    stats: Json | None  # write counters at the time (postgres), for "written since"
    verified_at: float | None
    verify_ok: bool | None  # None: never verified
    verify_seconds: float | None
    verify_detail: str | None
    # the release serving when it was taken (from the snapshot's tags; listed against
    # the repository only): what `recover` deploys when the old server is gone
    release_id: str | None = None
    release_digest: str | None = None


@dataclass(frozen=True)
class BackupRunRequest:
    """Back up each source (a consistent dump or copy of each) into the repository,
    initialised on first use; tag each snapshot with its source and deployment."""

    repository: RepositorySpec
    sources: list[SourceSpec]
    reason: str
    deployment_id: str | None
    timeout: float
    skip_missing: bool = False  # a SQLite file not there yet is skipped, not an error
    # the scheduled runs: nothing is backed up (and a note says why) on a host this
    # environment was never deployed to, e.g. right after `shipyard setup`
    only_if_deployed: bool = False


@dataclass(frozen=True)
class BackupRunReply:
    backups: list[BackupRecord]
    skipped: list[str] = field(default_factory=list)  # sources with nothing to back up yet
    note: str = ""  # e.g. why nothing was backed up
    # per source: seconds of each piece (pg_dump, sha256, restic backup, ...)
    pieces: dict[str, dict[str, float]] = field(default_factory=dict)


BACKUP_RUN = Op("backup-run", BackupRunRequest, BackupRunReply)


@dataclass(frozen=True)
class BackupListRequest:
    """The backups recorded on this host, newest first; with `repository`, only those
    restic still has, plus snapshots of this environment that were never recorded here."""

    repository: RepositorySpec | None


@dataclass(frozen=True)
class BackupListReply:
    backups: list[BackupRecord]
    repository_checked: bool  # the list was checked against the repository


BACKUP_LIST = Op("backup-list", BackupListRequest, BackupListReply)


@dataclass(frozen=True)
class BackupVerifyRequest:
    """Check the repository's structure, restore the snapshot (None: the newest of each
    source) into scratch space, compare checksums, and run the checks there: a scratch
    database on the same server (dropped afterwards), a scratch SQLite file or directory.
    The result and its duration are recorded, a failure included."""

    repository: RepositorySpec
    sources: list[SourceSpec]
    snapshot_id: str | None
    checks: list[CheckSpec]
    read_data_subset: str | None  # `restic check --read-data-subset`, e.g. "10%"
    timeout: float
    only_if_deployed: bool = False  # as BackupRunRequest's


@dataclass(frozen=True)
class VerifyResult:
    snapshot_id: str
    source: str
    ok: bool
    seconds: float
    detail: str  # what passed, or what failed


@dataclass(frozen=True)
class BackupVerifyReply:
    results: list[VerifyResult]
    note: str = ""  # e.g. why nothing was verified


BACKUP_VERIFY = Op("backup-verify", BackupVerifyRequest, BackupVerifyReply)


@dataclass(frozen=True)
class BackupRestoreRequest:
    """Restore a snapshot into the live source: pg_restore --clean into the database,
    SQLite's backup API into the live file, the directory swapped in whole."""

    repository: RepositorySpec
    source: SourceSpec
    snapshot_id: str
    timeout: float


@dataclass(frozen=True)
class BackupRestoreReply:
    snapshot_id: str
    source: str
    seconds: float
    read_from: str = "restic"  # "restic" | "local copy" (`backup.local_copy`)
    why: str = ""  # why that one, when local_copy is on
    pieces: dict[str, float] = field(default_factory=dict)  # seconds of each piece


BACKUP_RESTORE = Op("backup-restore", BackupRestoreRequest, BackupRestoreReply)


@dataclass(frozen=True)
class BackupPruneRequest:
    """Apply retention per source (`restic forget --prune` with `keep`, restic's own
    flags) and forget the records of removed snapshots."""

    repository: RepositorySpec
    sources: list[str]
    keep: list[str]


@dataclass(frozen=True)
class BackupPruneReply:
    kept: list[str]
    removed: list[str]


BACKUP_PRUNE = Op("backup-prune", BackupPruneRequest, BackupPruneReply)


@dataclass(frozen=True)
class BackupStatsRequest:
    """The write counters of each PostgreSQL source now."""

    sources: list[SourceSpec]


@dataclass(frozen=True)
class BackupStatsReply:
    stats: dict[str, Json]  # source -> counters (see plan.backup.written_since)


BACKUP_STATS = Op("backup-stats", BackupStatsRequest, BackupStatsReply)
