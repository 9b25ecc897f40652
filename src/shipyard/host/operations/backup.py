"""BACKUP-RUN, -LIST, -VERIFY, -RESTORE, -PRUNE, -STATS. Requests and replies:
`shipyard.protocol.backup`.

A source is first made into files that are consistent on their own (pg_dump's
snapshot, SQLite's online backup API, a directory as it is), then restic stores them:
one snapshot per source, tagged with the environment, the source and the deployment.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.host import backup_records as records
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.host.postgres import DUMP, Postgres
from shipyard.host.restic import Restic, Snapshot
from shipyard.plan.layout import Layout
from shipyard.protocol import backup as proto

CHUNK = 1024 * 1024


def backup_run(ctx: Context, request: proto.BackupRunRequest) -> proto.BackupRunReply:
    layout, state = ctx.layout, ctx.open_state()
    restic = Restic(layout, request.repository, request.timeout)
    restic.ensure_initialised()
    done = []
    skipped = []
    for source in request.sources:
        missing = source.kind == "sqlite" and not (layout.shared / str(source.path)).exists()
        if missing and request.skip_missing:
            skipped.append(source.name)  # e.g. the first migration creates it
            continue
        started, clock = time.time(), time.monotonic()
        stats: dict[str, Any] | None = None
        with _fresh(layout.backup_staging(source.name)) as staging:
            if source.kind == "postgres":
                pg = _postgres(source, request.timeout)
                stats = pg.stats()
                pg.dump(staging)
                directory = staging
            elif source.kind == "sqlite":
                _sqlite_copy(_live_path(layout, source), staging / Path(str(source.path)).name)
                directory = staging
            else:
                directory = _live_path(layout, source)
                if not directory.is_dir():
                    raise HostOpError(
                        f"backup source {source.name}: {directory} is not a directory"
                    )
            sums = _checksums(directory) if source.kind != "directory" else {}
            tags = {"source": source.name, "kind": source.kind, "reason": request.reason}
            if request.deployment_id:
                tags["deployment"] = request.deployment_id
            stored = restic.backup(directory, tags)
        record = proto.BackupRecord(
            snapshot_id=stored.snapshot_id,
            source=source.name,
            kind=source.kind,
            reason=request.reason,
            deployment_id=request.deployment_id,
            started_at=started,
            duration=round(time.monotonic() - clock, 3),
            size_bytes=stored.bytes_processed,
            added_bytes=stored.bytes_added,
            checksums=sums,
            stats=stats,
            verified_at=None,
            verify_ok=None,
            verify_seconds=None,
            verify_detail=None,
        )
        records.add(state, record)
        state.event(
            "backup", {"snapshot": record.snapshot_id, "source": source.name}, request.deployment_id
        )
        done.append(record)
    return proto.BackupRunReply(backups=done, skipped=skipped)


def backup_list(ctx: Context, request: proto.BackupListRequest) -> proto.BackupListReply:
    state = ctx.read_state()
    known = records.all_records(state) if state else []
    if request.repository is None:
        return proto.BackupListReply(backups=known, repository_checked=False)
    restic = Restic(ctx.layout, request.repository, timeout=300)
    if restic.run("cat", "config", check=False).returncode != 0 and not known:
        return proto.BackupListReply(backups=[], repository_checked=True)
    snapshots = restic.snapshots()
    by_id = {r.snapshot_id: r for r in known}
    listed = [by_id.get(s.snapshot_id) or _unrecorded(s) for s in snapshots]
    listed.sort(key=lambda r: r.started_at, reverse=True)
    return proto.BackupListReply(backups=listed, repository_checked=True)


def backup_verify(ctx: Context, request: proto.BackupVerifyRequest) -> proto.BackupVerifyReply:
    layout, state = ctx.layout, ctx.open_state()
    restic = Restic(layout, request.repository, request.timeout)
    snapshots = restic.snapshots()
    sources = {s.name: s for s in request.sources}
    targets = _targets(snapshots, request.snapshot_id, list(sources))
    try:
        restic.check(request.read_data_subset)
        broken = ""
    except HostOpError as exc:
        broken = f"the repository failed `restic check`: {exc.message}"
    results = []
    for snapshot_id, source_name in targets:
        clock = time.monotonic()
        source = sources.get(source_name)
        try:
            if broken:
                raise HostOpError(broken)
            if source is None:
                raise HostOpError(f"snapshot {snapshot_id} is of {source_name}, not configured")
            checks = [c for c in request.checks if c.source == source_name]
            detail = _verify_one(layout, restic, source, snapshot_id, checks, state, request)
            ok = True
        except HostOpError as exc:
            ok, detail = False, exc.message
        seconds = round(time.monotonic() - clock, 3)
        records.verified(state, snapshot_id, ok, seconds, detail)
        results.append(proto.VerifyResult(snapshot_id, source_name, ok, seconds, detail))
    return proto.BackupVerifyReply(results=results)


def backup_restore(ctx: Context, request: proto.BackupRestoreRequest) -> proto.BackupRestoreReply:
    layout, source = ctx.layout, request.source
    restic = Restic(layout, request.repository, request.timeout)
    snapshot = next((s for s in restic.snapshots() if s.snapshot_id == request.snapshot_id), None)
    if snapshot is None:
        raise HostOpError(
            f"no snapshot {request.snapshot_id} of this environment in the repository",
            hint="see `shipyard backup list ENV`",
        )
    if snapshot.tags.get("source") != source.name:
        raise HostOpError(
            f"snapshot {request.snapshot_id} is of {snapshot.tags.get('source')}, "
            f"not of {source.name}"
        )
    clock = time.monotonic()
    if source.kind == "postgres":
        # streamed: restic dump | pg_restore, no copy of the dump on disk
        pg = _postgres(source, request.timeout)
        restic.stream(
            request.snapshot_id,
            f"/{source.name}/{DUMP}",
            lambda dump: pg.restore(None, clean=True, stdin=dump),
        )
    else:
        with _fresh(layout.backup_scratch(request.snapshot_id)) as scratch:
            restic.restore(request.snapshot_id, scratch)
            restored = scratch / _entry(source)
            if source.kind == "sqlite":
                name = Path(str(source.path)).name
                _sqlite_copy(restored / name, _live_path(layout, source), into_live=True)
            else:
                _swap_in(restored, _live_path(layout, source))
    seconds = round(time.monotonic() - clock, 3)
    state = ctx.open_state()
    state.event("backup-restored", {"snapshot": request.snapshot_id, "source": source.name})
    return proto.BackupRestoreReply(request.snapshot_id, source.name, seconds)


def backup_prune(ctx: Context, request: proto.BackupPruneRequest) -> proto.BackupPruneReply:
    restic = Restic(ctx.layout, request.repository, timeout=3600)
    kept: list[str] = []
    removed: list[str] = []
    for source in request.sources:
        k, r = restic.forget(source, request.keep)
        kept += k
        removed += r
    state = ctx.read_state()
    if state is not None:
        records.forget(state, removed)
    return proto.BackupPruneReply(kept=kept, removed=removed)


def backup_stats(ctx: Context, request: proto.BackupStatsRequest) -> proto.BackupStatsReply:
    return proto.BackupStatsReply(
        stats={
            s.name: _postgres(s, timeout=60).stats()
            for s in request.sources
            if s.kind == "postgres"
        }
    )


# pieces ------------------------------------------------------------------------


def _postgres(source: proto.SourceSpec, timeout: float) -> Postgres:
    if not source.url:
        raise HostOpError(f"backup source {source.name}: no connection URL")
    return Postgres(source.name, source.url, timeout)


def _entry(source: proto.SourceSpec) -> str:
    """The snapshot's top-level directory: the staging directory (named for the source),
    or the backed-up directory itself."""
    return Path(str(source.path)).name if source.kind == "directory" else source.name


def _live_path(layout: Layout, source: proto.SourceSpec) -> Path:
    path = layout.shared / str(source.path)
    if source.kind == "sqlite" and not path.is_file():
        raise HostOpError(
            f"backup source {source.name}: {path} does not exist",
            hint="the path is relative to the environment's shared/ directory",
        )
    return path


@contextmanager
def _fresh(path: Path) -> Iterator[Path]:
    """An empty directory (0700) at `path`, removed afterwards."""
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sqlite_copy(source: Path, target: Path, *, into_live: bool = False) -> None:
    """SQLite's online backup API: a consistent copy even while the app writes."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        what = "restoring into" if into_live else "copying"
        raise HostOpError(f"SQLite backup API failed {what} {target}: {exc}") from None
    finally:
        dst.close()
        src.close()


def _swap_in(restored: Path, live: Path) -> None:
    """Put a restored directory in place of the live one (the old one moved aside, then
    removed once the new one is there)."""
    aside = live.with_name(f".{live.name}.before-restore")
    shutil.rmtree(aside, ignore_errors=True)
    if live.exists():
        live.rename(aside)
    shutil.move(str(restored), str(live))
    shutil.rmtree(aside, ignore_errors=True)


def _checksums(directory: Path) -> dict[str, str]:
    sums = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        sums[str(path.relative_to(directory))] = digest.hexdigest()
    return sums


def _targets(
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


def _verify_one(
    layout: Layout,
    restic: Restic,
    source: proto.SourceSpec,
    snapshot_id: str,
    checks: list[proto.CheckSpec],
    state: Any,
    request: proto.BackupVerifyRequest,
) -> str:
    passed: list[str] = []
    with _fresh(layout.backup_scratch(snapshot_id)) as scratch:
        restic.restore(snapshot_id, scratch)
        scratch = scratch / _entry(source)
        if not scratch.is_dir():
            raise HostOpError(f"snapshot {snapshot_id} does not hold {_entry(source)}/")
        record = records.get(state, snapshot_id)
        if record is not None and record.checksums:
            restored = _checksums(scratch)
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
    pg = _postgres(source, timeout)
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


def _unrecorded(snapshot: Snapshot) -> proto.BackupRecord:
    """A snapshot restic has but this host's state does not (made elsewhere)."""
    when = datetime.fromisoformat(
        re.sub(r"\.\d+", "", snapshot.time).replace("Z", "+00:00")
    ).timestamp()
    kind = snapshot.tags.get("kind", "directory")
    return proto.BackupRecord(
        snapshot_id=snapshot.snapshot_id,
        source=snapshot.tags.get("source", "?"),
        kind=kind if kind in ("postgres", "sqlite", "directory") else "directory",  # type: ignore[arg-type]
        reason=snapshot.tags.get("reason", "?"),
        deployment_id=snapshot.tags.get("deployment"),
        started_at=when,
        duration=0.0,
        size_bytes=0,
        added_bytes=0,
        checksums={},
        stats=None,
        verified_at=None,
        verify_ok=None,
        verify_seconds=None,
        verify_detail=None,
    )


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.BACKUP_RUN, backup_run),
    Handler(proto.BACKUP_LIST, backup_list),
    Handler(proto.BACKUP_VERIFY, backup_verify),
    Handler(proto.BACKUP_RESTORE, backup_restore),
    Handler(proto.BACKUP_PRUNE, backup_prune),
    Handler(proto.BACKUP_STATS, backup_stats),
]
