"""The `backups` table of the host's state: each backup's size, duration, checksums,
write counters and its last verify. Created on first use (safe on an existing state.db)."""

from __future__ import annotations

import json
import time
from typing import Any

from shipyard.host.state import State
from shipyard.protocol.backup import BackupRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS backups (
    snapshot_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    deployment_id TEXT,
    started_at REAL NOT NULL,
    duration REAL NOT NULL,
    size_bytes INTEGER NOT NULL,
    added_bytes INTEGER NOT NULL,
    checksums TEXT NOT NULL,
    stats TEXT,
    verified_at REAL,
    verify_ok INTEGER,
    verify_seconds REAL,
    verify_detail TEXT
);
CREATE INDEX IF NOT EXISTS backups_by_source ON backups (source, started_at);
"""


def _ready(state: State) -> State:
    with state.connect() as db:
        db.executescript(SCHEMA)
    return state


def add(state: State, record: BackupRecord) -> None:
    with _ready(state).transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO backups (snapshot_id, source, kind, reason, deployment_id, "
            "started_at, duration, size_bytes, added_bytes, checksums, stats) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.snapshot_id,
                record.source,
                record.kind,
                record.reason,
                record.deployment_id,
                record.started_at,
                record.duration,
                record.size_bytes,
                record.added_bytes,
                json.dumps(record.checksums),
                json.dumps(record.stats) if record.stats is not None else None,
            ),
        )


def verified(state: State, snapshot_id: str, ok: bool, seconds: float, detail: str) -> None:
    with _ready(state).transaction() as db:
        db.execute(
            "UPDATE backups SET verified_at = ?, verify_ok = ?, verify_seconds = ?, "
            "verify_detail = ? WHERE snapshot_id = ?",
            (time.time(), int(ok), seconds, detail, snapshot_id),
        )


def forget(state: State, snapshot_ids: list[str]) -> None:
    with _ready(state).transaction() as db:
        db.executemany("DELETE FROM backups WHERE snapshot_id = ?", [(s,) for s in snapshot_ids])


def all_records(state: State) -> list[BackupRecord]:
    with _ready(state).connect() as db:
        rows = db.execute("SELECT * FROM backups ORDER BY started_at DESC").fetchall()
    return [_record(dict(row)) for row in rows]


def get(state: State, snapshot_id: str) -> BackupRecord | None:
    return next((r for r in all_records(state) if r.snapshot_id == snapshot_id), None)


def _record(row: dict[str, Any]) -> BackupRecord:
    return BackupRecord(
        snapshot_id=row["snapshot_id"],
        source=row["source"],
        kind=row["kind"],
        reason=row["reason"],
        deployment_id=row["deployment_id"],
        started_at=row["started_at"],
        duration=row["duration"],
        size_bytes=row["size_bytes"],
        added_bytes=row["added_bytes"],
        checksums=json.loads(row["checksums"]),
        stats=json.loads(row["stats"]) if row["stats"] else None,
        verified_at=row["verified_at"],
        verify_ok=None if row["verify_ok"] is None else bool(row["verify_ok"]),
        verify_seconds=row["verify_seconds"],
        verify_detail=row["verify_detail"],
    )
