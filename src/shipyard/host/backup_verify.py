"""What `backup-verify` does with one snapshot: restore it into scratch space, compare
checksums, restore into a scratch database (or open the SQLite file, count the files),
run the checks. Raises HostOpError with what failed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shipyard.host import backup_records as records
from shipyard.host.backup_files import checksums, entry, fresh
from shipyard.host.errors import HostOpError
from shipyard.host.postgres import Postgres
from shipyard.host.restic import Restic, Snapshot
from shipyard.host.state import State
from shipyard.plan.layout import Layout
from shipyard.protocol import backup as proto


def targets(
    snapshots: list[Snapshot], snapshot_id: str | None, sources: list[str]
) -> list[tuple[str, str]]:
    """(snapshot, source) to verify: the one asked for, or the newest of each source."""
    if snapshot_id is not None:
        match = next((s for s in snapshots if s.snapshot_id == snapshot_id), None)
        if match is None:
            raise HostOpError(
                f"no snapshot {snapshot_id} of this environment in the repository",
                hint="see `shipyard backup list ENV`",
            )
        return [(snapshot_id, match.tags.get("source", "?"))]
    newest: dict[str, str] = {}
    for snapshot in snapshots:  # oldest first: the last one wins
        newest[snapshot.tags.get("source", "?")] = snapshot.snapshot_id
    missing = [name for name in sources if name not in newest]
    if missing:
        raise HostOpError(
            f"nothing to verify: {missing[0]} has no backup yet",
            hint="run `shipyard backup run ENV` first",
        )
    return [(newest[name], name) for name in sources]


def verify_one(
    layout: Layout,
    restic: Restic,
    source: proto.SourceSpec,
    snapshot_id: str,
    checks: list[proto.CheckSpec],
    state: State,
    request: proto.BackupVerifyRequest,
) -> str:
    passed: list[str] = []
    with fresh(layout.backup_scratch(snapshot_id)) as scratch:
        restic.restore(snapshot_id, scratch)
        scratch = scratch / entry(source)
        if not scratch.is_dir():
            raise HostOpError(f"snapshot {snapshot_id} does not hold {entry(source)}/")
        record = records.get(state, snapshot_id)
        if record is not None and record.checksums:
            restored = checksums(scratch)
            for name, digest in record.checksums.items():
                if restored.get(name) != digest:
                    raise HostOpError(f"{name} restored with a different sha256 than backed up")
            passed.append(f"{len(record.checksums)} checksum(s) match")
        if source.kind == "postgres":
            passed += _verify_postgres(source, scratch, checks, request.timeout)
        elif source.kind == "sqlite":
            passed += _verify_sqlite(scratch / Path(str(source.path)).name, checks)
        else:
            passed += _verify_files(scratch, checks)
    return "; ".join(passed) or "restored"


def _verify_postgres(
    source: proto.SourceSpec, scratch: Path, checks: list[proto.CheckSpec], timeout: float
) -> list[str]:
    pg = postgres(source, timeout)
    database = pg.create_scratch()
    try:
        pg.restore(scratch, database, clean=False)
        passed = ["pg_restore into a scratch database succeeded"]
        for check in checks:
            if check.sql is None:
                continue
            got = pg.query(check.sql, database)
            if got != check.expect:
                raise HostOpError(f"check {check.sql!r} gave {got!r}, expected {check.expect!r}")
            passed.append(f"{check.sql!r} = {got!r}")
        return passed
    finally:
        pg.drop(database)


def _verify_sqlite(path: Path, checks: list[proto.CheckSpec]) -> list[str]:
    db = sqlite3.connect(path)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise HostOpError(f"the restored SQLite file fails integrity_check: {integrity}")
        passed = ["integrity_check ok"]
        for check in checks:
            if check.sql is None:
                continue
            try:
                row = db.execute(check.sql).fetchone()
            except sqlite3.Error as exc:
                raise HostOpError(f"check {check.sql!r} failed: {exc}") from None
            got = "" if row is None or row[0] is None else str(row[0])
            if got != check.expect:
                raise HostOpError(f"check {check.sql!r} gave {got!r}, expected {check.expect!r}")
            passed.append(f"{check.sql!r} = {got!r}")
        return passed
    finally:
        db.close()


def _verify_files(scratch: Path, checks: list[proto.CheckSpec]) -> list[str]:
    passed = []
    for check in checks:
        if check.min_files is None:
            continue
        count = sum(1 for p in (scratch / check.path).rglob("*") if p.is_file())
        if count < check.min_files:
            raise HostOpError(
                f"{check.path} holds {count} file(s) in the restored copy, "
                f"expected at least {check.min_files}"
            )
        passed.append(f"{check.path}: {count} files")
    return passed


def postgres(source: proto.SourceSpec, timeout: float) -> Postgres:
    if not source.url:
        raise HostOpError(f"backup source {source.name}: no connection URL")
    return Postgres(source.name, source.url, timeout)
