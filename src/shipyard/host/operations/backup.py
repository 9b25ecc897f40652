"""BACKUP-RUN, -LIST, -VERIFY, -RESTORE, -PRUNE, -STATS. Requests and replies:
`shipyard.protocol.backup`.

A source is first made into files that are consistent on their own (pg_dump's
snapshot, SQLite's online backup API, a directory as it is), then restic stores them:
one snapshot per source, tagged with the environment, the source and the deployment.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.host import backup_records as records
from shipyard.host import backup_verify as verifying
from shipyard.host import local_dump
from shipyard.host.backup_files import checksums, entry, fresh, live_path, sqlite_copy, swap_in
from shipyard.host.backup_verify import postgres, verify_one
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.host.pieces import Pieces
from shipyard.host.postgres import DUMP
from shipyard.host.restic import Restic, Snapshot
from shipyard.host.state import State
from shipyard.plan.local_dump import ABSENT, TAG, DumpChoice, checked, choose, recorded_sha256
from shipyard.protocol import backup as proto

NOT_DEPLOYED = (
    "{app}/{env} was never deployed to this host: nothing to {what} yet "
    "(scheduled runs start with the first deploy)"
)


def deployed(ctx: Context) -> bool:
    """Whether a release of this environment was ever made active here."""
    state = ctx.read_state()
    return state is not None and state.get_meta("active_slot") is not None


def _not_deployed(ctx: Context, what: str) -> str:
    return NOT_DEPLOYED.format(app=ctx.layout.app, env=ctx.layout.env, what=what)


def backup_run(ctx: Context, request: proto.BackupRunRequest) -> proto.BackupRunReply:
    if request.only_if_deployed and not deployed(ctx):
        skipped = [source.name for source in request.sources]
        return proto.BackupRunReply(backups=[], skipped=skipped, note=_not_deployed(ctx, "back up"))
    layout, state = ctx.layout, ctx.open_state()
    restic = Restic(layout, request.repository, request.timeout)
    setup = Pieces()
    with setup.timed("restic cat config"):
        compresses = restic.ensure_initialised() >= 2  # else pg_dump compresses the dump
    done = []
    skipped = []
    pieces: dict[str, dict[str, float]] = {}
    for source in request.sources:
        missing = source.kind == "sqlite" and not (layout.shared / str(source.path)).exists()
        if missing and request.skip_missing:
            skipped.append(source.name)  # e.g. the first migration creates it
            continue
        started, clock, timing = time.time(), time.monotonic(), Pieces()
        stats: dict[str, Any] | None = None
        with fresh(layout.backup_staging(source.name)) as staging:
            if source.kind == "postgres":
                pg = postgres(source, request.timeout)
                with timing.timed("stats"):
                    stats = pg.stats()
                with timing.timed("pg_dump"):
                    pg.dump(staging, compress=not compresses)
                directory = staging
            elif source.kind == "sqlite":
                with timing.timed("sqlite backup"):
                    sqlite_copy(live_path(layout, source), staging / Path(str(source.path)).name)
                directory = staging
            else:
                directory = live_path(layout, source)
                if not directory.is_dir():
                    raise HostOpError(
                        f"backup source {source.name}: {directory} is not a directory"
                    )
            with timing.timed("sha256"):
                sums = checksums(directory) if source.kind != "directory" else {}
            tags = {"source": source.name, "kind": source.kind, "reason": request.reason}
            if request.deployment_id:
                tags["deployment"] = request.deployment_id
            if source.kind == "postgres":
                tags[TAG] = sums[DUMP]  # what a restore checks a local copy against
            tags |= _release_tags(state)
            with timing.timed("restic backup"):
                stored = restic.backup(directory, tags)
            if source.kind == "postgres":
                with timing.timed("local copy"):
                    _local_copy(ctx, source, staging / DUMP, sums[DUMP])
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
        with timing.timed("record"):
            records.add(state, record)
        pieces[source.name] = setup.seconds | timing.seconds
        state.event(
            "backup",
            {"snapshot": record.snapshot_id, "source": source.name, "pieces": timing.seconds},
            request.deployment_id,
        )
        done.append(record)
    return proto.BackupRunReply(backups=done, skipped=skipped, pieces=pieces)


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
    listed = [_with_release(by_id.get(s.snapshot_id) or _unrecorded(s), s) for s in snapshots]
    listed.sort(key=lambda r: r.started_at, reverse=True)
    return proto.BackupListReply(backups=listed, repository_checked=True)


def backup_verify(ctx: Context, request: proto.BackupVerifyRequest) -> proto.BackupVerifyReply:
    if request.only_if_deployed and not deployed(ctx):
        return proto.BackupVerifyReply(results=[], note=_not_deployed(ctx, "verify"))
    layout, state = ctx.layout, ctx.open_state()
    restic = Restic(layout, request.repository, request.timeout)
    snapshots = restic.snapshots()
    sources = {s.name: s for s in request.sources}
    targets = verifying.targets(snapshots, request.snapshot_id, list(sources))
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
            detail = verify_one(layout, restic, source, snapshot_id, checks, state, request)
            ok = True
        except HostOpError as exc:
            ok, detail = False, exc.message
        seconds = round(time.monotonic() - clock, 3)
        records.verified(state, snapshot_id, ok, seconds, detail)
        results.append(proto.VerifyResult(snapshot_id, source_name, ok, seconds, detail))
    return proto.BackupVerifyReply(results=results)


def backup_restore(ctx: Context, request: proto.BackupRestoreRequest) -> proto.BackupRestoreReply:
    layout, source, state = ctx.layout, request.source, ctx.open_state()
    restic = Restic(layout, request.repository, request.timeout)
    clock, timing = time.monotonic(), Pieces()
    with timing.timed("lookup"):
        recorded = _recorded_sha256(state, restic, request)
    with fresh(layout.backup_scratch(f"restore-{request.snapshot_id}")) as scratch:
        with timing.timed("pin"):
            copy = local_dump.pin(layout, source.name, scratch) if source.local_copy else ABSENT
        choice = choose(source.local_copy, recorded, copy)
        if source.kind == "postgres":
            choice = _restore_postgres(restic, request, scratch, choice, recorded, timing)
        else:
            with timing.timed("restic restore"):
                restic.restore(request.snapshot_id, scratch)
            restored = scratch / entry(source)
            live = layout.shared / str(source.path)  # may not exist yet: a new server
            live.parent.mkdir(parents=True, exist_ok=True)
            if source.kind == "sqlite":
                name = Path(str(source.path)).name
                sqlite_copy(restored / name, live, into_live=True)
            else:
                swap_in(restored, live)
    seconds = round(time.monotonic() - clock, 3)
    state.event(
        "backup-restored",
        {
            "snapshot": request.snapshot_id,
            "source": source.name,
            "read_from": choice.read_from,
            "why": choice.why,
            "pieces": timing.seconds,
        },
    )
    return proto.BackupRestoreReply(
        request.snapshot_id, source.name, seconds, choice.read_from, choice.why, timing.seconds
    )


def _recorded_sha256(
    state: State, restic: Restic, request: proto.BackupRestoreRequest
) -> str | None:
    """The sha256 of the snapshot's dump as recorded when it was taken, and the check
    that the snapshot is of the source asked for: from this host's record of that backup
    (no call to restic), else from the repository (a snapshot made elsewhere)."""
    record = records.get(state, request.snapshot_id)
    if record is None:
        snapshot = _snapshot_of(restic, request)
        return recorded_sha256(None, snapshot.tags, DUMP)
    if record.source != request.source.name:
        raise HostOpError(
            f"snapshot {request.snapshot_id} is of {record.source}, not of {request.source.name}"
        )
    return recorded_sha256(record.checksums, None, DUMP)


def _snapshot_of(restic: Restic, request: proto.BackupRestoreRequest) -> Snapshot:
    """The snapshot asked for, from the repository, and of the source asked for."""
    snapshot = next((s for s in restic.snapshots() if s.snapshot_id == request.snapshot_id), None)
    if snapshot is None:
        raise HostOpError(
            f"no snapshot {request.snapshot_id} of this environment in the repository",
            hint="see `shipyard backup list ENV`",
        )
    if snapshot.tags.get("source") != request.source.name:
        raise HostOpError(
            f"snapshot {request.snapshot_id} is of {snapshot.tags.get('source')}, "
            f"not of {request.source.name}"
        )
    return snapshot


def _restore_postgres(
    restic: Restic,
    request: proto.BackupRestoreRequest,
    scratch: Path,
    choice: DumpChoice,
    recorded: str | None,
    timing: Pieces,
) -> DumpChoice:
    """pg_restore --clean of the snapshot's dump: the local copy pinned in `scratch`,
    checked against the recorded sha256 as pg_restore reads it (it commits only if the
    copy matched), else streamed `restic dump | pg_restore` (no copy of the dump on
    disk). The choice that was used."""
    source = request.source
    pg = postgres(source, request.timeout)
    if choice.local and recorded:
        try:
            with timing.timed("pg_restore of the local copy, hashed"):
                choice = checked(pg.restore_checked(scratch / DUMP, recorded))
        except OSError as exc:  # reading the copy failed: pg_restore was stopped
            choice = DumpChoice(
                local=False, why=f"the local copy could not be read: {exc.strerror or exc}"
            )
        if choice.local:
            return choice
    with timing.timed("restic dump | pg_restore"):
        restic.stream(
            request.snapshot_id,
            f"/{source.name}/{DUMP}",
            lambda dump: pg.restore(None, clean=True, stdin=dump),
        )
    return choice


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
            s.name: postgres(s, timeout=60).stats() for s in request.sources if s.kind == "postgres"
        }
    )


# pieces ------------------------------------------------------------------------


def _local_copy(ctx: Context, source: proto.SourceSpec, dump: Path, sha256: str) -> None:
    """Keep the dump just stored on the host too (local_copy), or drop an old copy."""
    if source.local_copy:
        local_dump.keep(ctx.layout, source.name, dump, sha256)
    else:
        local_dump.drop(ctx.layout, source.name)


def _release_tags(state: State) -> dict[str, str]:
    """The release serving when the backup was taken, as tags: a recovery onto a new
    server reads them from the (off-site) repository when the old server is gone."""
    slot = state.get_meta("active_slot")
    row = state.slots().get(slot) if slot else None
    info = next((r for r in state.releases() if row and r.release_id == row.release_id), None)
    if info is None:
        return {}
    return {"release": info.release_id, "digest": info.digest}


def _with_release(record: proto.BackupRecord, snapshot: Snapshot) -> proto.BackupRecord:
    return replace(
        record,
        release_id=snapshot.tags.get("release"),
        release_digest=snapshot.tags.get("digest"),
    )


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
