"""Backups, decided: the backup operations' requests, restic's retention flags, which
sources are overdue, and what a database has had written since a backup. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.config.backup import (
    Backup,
    FileCountCheck,
    PostgresSource,
    Retention,
    SqlCheck,
)
from shipyard.config.model import Environment
from shipyard.protocol.backup import BackupRecord, CheckSpec, RepositorySpec, SourceSpec

STALE_NEVER = "never backed up"


def forget_flags(retention: Retention) -> list[str]:
    """restic `forget` flags for a retention policy; a rule at 0 is left out."""
    rules = (
        ("--keep-last", retention.keep_last),
        ("--keep-daily", retention.keep_daily),
        ("--keep-weekly", retention.keep_weekly),
        ("--keep-monthly", retention.keep_monthly),
    )
    flags: list[str] = []
    for flag, count in rules:
        if count > 0:
            flags += [flag, str(count)]
    return flags


def repository(backup: Backup, secrets: Mapping[str, str]) -> RepositorySpec:
    extra: dict[str, str] = {}
    if backup.s3 is not None:
        extra["AWS_ACCESS_KEY_ID"] = secrets[backup.s3.access_key_id_secret]
        extra["AWS_SECRET_ACCESS_KEY"] = secrets[backup.s3.secret_access_key_secret]
        if backup.s3.region:
            extra["AWS_DEFAULT_REGION"] = backup.s3.region
    return RepositorySpec(
        url=backup.repository, password=secrets[backup.password_secret], env_values=extra
    )


def sources(
    backup: Backup, secrets: Mapping[str, str], names: Sequence[str] = ()
) -> list[SourceSpec]:
    """The sources named (all of them when none is), with their connection values."""
    unknown = sorted(set(names) - {s.name for s in backup.sources})
    if unknown:
        known = ", ".join(s.name for s in backup.sources)
        raise ValueError(f"no backup source named {unknown[0]!r} (configured: {known})")
    chosen = [s for s in backup.sources if not names or s.name in names]
    return [
        SourceSpec(
            name=s.name,
            kind=s.type,
            url=secrets[s.secret] if isinstance(s, PostgresSource) else None,
            path=None if isinstance(s, PostgresSource) else s.path,
            local_copy=backup.local_copy and isinstance(s, PostgresSource),
        )
        for s in chosen
    ]


def checks(backup: Backup) -> list[CheckSpec]:
    result = []
    for check in backup.checks:
        if isinstance(check, SqlCheck):
            result.append(
                CheckSpec(check.source, check.sql, check.expect, min_files=None, path=".")
            )
        elif isinstance(check, FileCountCheck):
            result.append(CheckSpec(check.source, None, None, check.min_files, check.path))
    return result


def backup_of(env: Environment) -> Backup:
    if env.backup is None:
        raise ValueError(f"environment {env.name} has no `backup:` section")
    return env.backup


# staleness -------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFreshness:
    """The newest backup of one source, and whether it is within `max_age`."""

    source: str
    last_snapshot: str | None
    last_at: float | None
    age: float | None
    stale: bool
    verified: bool | None  # the newest backup's verify result; None: never verified

    def describe(self) -> str:
        if self.last_at is None or self.age is None:
            return f"{self.source}: {STALE_NEVER}"
        verified = {True: "verified", False: "VERIFY FAILED", None: "never verified"}
        return (
            f"{self.source}: last backup {self.last_snapshot} {_age(self.age)} ago "
            f"({verified[self.verified]})"
        )


def freshness(
    records: Iterable[BackupRecord], source_names: Sequence[str], max_age: float, now: float
) -> list[SourceFreshness]:
    """For each source, its newest backup and whether it is overdue (older than
    `max_age`, or none at all)."""
    newest: dict[str, BackupRecord] = {}
    for record in records:
        best = newest.get(record.source)
        if best is None or record.started_at > best.started_at:
            newest[record.source] = record
    result = []
    for name in source_names:
        last = newest.get(name)
        if last is None:
            result.append(SourceFreshness(name, None, None, None, True, None))
            continue
        age = max(0.0, now - last.started_at)
        result.append(
            SourceFreshness(
                name, last.snapshot_id, last.started_at, age, age > max_age, last.verify_ok
            )
        )
    return result


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# written since ------------------------------------------------------------------


@dataclass(frozen=True)
class WrittenSince:
    """What a database had written between a backup and now (PostgreSQL's counters)."""

    transactions: int | None  # committed transactions; None when the counters were reset
    rows: int | None  # rows inserted, updated or deleted
    tables: dict[str, int]  # table -> rows written since, only tables with writes

    def describe(self) -> str:
        if self.transactions is None or self.rows is None:
            return "unknown (the server's statistics were reset since the backup)"
        if self.rows == 0:
            return f"no rows written ({self.transactions} transactions committed)"
        per_table = ", ".join(f"{t} {n}" for t, n in sorted(self.tables.items()))
        return f"{self.rows} rows written in {self.transactions} transactions ({per_table})"


def written_since(before: Mapping[str, Any], now: Mapping[str, Any]) -> WrittenSince:
    """The difference of two `backup-stats` readings of one database.

    Counters only grow; one that went down means the statistics were reset (or the
    server was replaced), and then nothing can be said.
    """
    b_db, n_db = before.get("database", {}), now.get("database", {})
    transactions = int(n_db.get("xact_commit", 0)) - int(b_db.get("xact_commit", 0))
    rows = int(n_db.get("rows_written", 0)) - int(b_db.get("rows_written", 0))
    if transactions < 0 or rows < 0:
        return WrittenSince(None, None, {})
    tables: dict[str, int] = {}
    b_tables = before.get("tables", {})
    for table, count in now.get("tables", {}).items():
        diff = int(count) - int(b_tables.get(table, 0))
        if diff > 0:
            tables[table] = diff
    return WrittenSince(transactions, rows, tables)
