"""The host's `backups` table: created on first use, also in a state.db an older Shipyard
wrote (whose deployments table has no `backups` column yet)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from shipyard.host import backup_records
from shipyard.host.state import State
from shipyard.protocol.backup import BackupRecord

OLD_DEPLOYMENTS = """
CREATE TABLE deployments (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, release_id TEXT NOT NULL,
    previous_release_id TEXT, commit_sha TEXT, commit_time TEXT, trigger TEXT NOT NULL,
    actor TEXT NOT NULL, message TEXT, hosts TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, outcome TEXT NOT NULL DEFAULT 'running', error TEXT,
    phases TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO deployments (id, kind, release_id, trigger, actor, hosts, started_at)
VALUES ('d1', 'deploy', 'r1', 'manual', 'me', '["local"]', 1.0);
"""


def record(snapshot: str, at: float) -> BackupRecord:
    return BackupRecord(
        snapshot_id=snapshot,
        source="db",
        kind="postgres",
        reason="pre-migration",
        deployment_id="d1",
        started_at=at,
        duration=2.5,
        size_bytes=1000,
        added_bytes=400,
        checksums={"db/db.pgdump": "ab" * 32},
        stats={"database": {"xact_commit": 1, "rows_written": 2}, "tables": {}},
        verified_at=None,
        verify_ok=None,
        verify_seconds=None,
        verify_detail=None,
    )


def test_an_older_state_db_gains_the_backups_table_and_column_and_keeps_its_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    db = sqlite3.connect(path)
    db.executescript(OLD_DEPLOYMENTS)
    db.close()
    state = State.create(path)
    (old,) = state.deployments(10)
    assert old.id == "d1" and old.backups is None
    backup_records.add(state, record("aaaa1111", 5.0))
    state.update_deployment("d1", backups=[{"snapshot_id": "aaaa1111"}])
    assert state.deployments(10)[0].backups == [{"snapshot_id": "aaaa1111"}]
    (stored,) = backup_records.all_records(state)
    assert stored == record("aaaa1111", 5.0)


def test_a_verify_result_is_recorded_with_the_backup_and_newest_backups_come_first(
    tmp_path: Path,
) -> None:
    state = State.create(tmp_path / "state.db")
    backup_records.add(state, record("old00000", 1.0))
    backup_records.add(state, record("new00000", 2.0))
    backup_records.verified(state, "old00000", False, 3.5, "pg_restore failed")
    new, old = backup_records.all_records(state)
    assert (new.snapshot_id, new.verify_ok) == ("new00000", None)
    assert (old.verify_ok, old.verify_seconds, old.verify_detail) == (
        False,
        3.5,
        "pg_restore failed",
    )
    assert old.verified_at is not None
    backup_records.forget(state, ["old00000"])
    assert [r.snapshot_id for r in backup_records.all_records(state)] == ["new00000"]
