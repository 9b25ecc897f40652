"""Drills, decided: which records `status` shows, how one reads, and the scratch database
a `drill recover` restores into instead of the real one."""

from __future__ import annotations

from shipyard.config.backup import Backup
from shipyard.plan import drills as plan
from shipyard.protocol.drills import DrillRecord


def entry(kind: str, at: float, drill: bool = True, ok: bool = True) -> DrillRecord:
    return DrillRecord(kind, drill, at, 2.0, ok, {"rollback": 2.0}, "detail", "ci")


def test_status_shows_the_newest_drill_of_each_kind_then_the_last_real_recovery() -> None:
    records = [
        entry("restore", 1),
        entry("restore", 5, ok=False),
        entry("recover", 3, drill=False),
        entry("rollback", 2),
        entry("recover", 4, drill=False),
    ]
    shown = plan.latest(records)
    assert [(r.kind, r.drill, r.started_at) for r in shown] == [
        ("rollback", True, 2),
        ("restore", True, 5),
        ("recover", False, 4),
    ]
    assert plan.describe(shown[1]) == "drill restore: FAILED, 2.0s (rollback 2.0s): detail"
    assert plan.describe(shown[2]).startswith("recovery: ok, 2.0s")


def test_a_drill_recover_points_each_postgres_secret_at_a_scratch_database() -> None:
    backup = Backup.model_validate(
        {
            "password_secret": "PW",
            "sources": [
                {"name": "db", "type": "postgres", "secret": "DATABASE_URL"},
                {"name": "files", "type": "directory", "path": "uploads"},
            ],
        }
    )
    secrets = {"DATABASE_URL": "postgresql://app:pw@db:5432/reconcile?sslmode=require", "PW": "x"}
    scratch = plan.scratch_secrets(backup, secrets, "20261202040000")
    assert scratch == {
        "DATABASE_URL": "postgresql://app:pw@db:5432/shipyard_drill_20261202040000_reconcile"
        "?sslmode=require"
    }
    long_name = plan.scratch_url("postgresql://h/" + "d" * 80, "20261202040000")
    assert len(long_name.rsplit("/", 1)[1]) == 63  # PostgreSQL's identifier limit
