"""Backup schedules, decided: systemd timer units, what is due for `shipyard serve`, when
a missed backup becomes overdue, and the RPO a schedule gives."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shipyard.config.backup import Backup
from shipyard.config.backup_schedule import BackupSchedule
from shipyard.plan import backup as backup_plan
from shipyard.plan import schedule as plan
from shipyard.protocol.backup import BackupRecord

HOUR = 3600.0
DAY = 86400.0


def backup(**fields: Any) -> Backup:
    values: dict[str, Any] = {
        "password_secret": "RESTIC_PASSWORD",
        "sources": [{"name": "db", "type": "postgres", "secret": "DATABASE_URL"}],
    }
    return Backup.model_validate(values | fields)


def record(at: float, verified_at: float | None = None) -> BackupRecord:
    return BackupRecord(
        snapshot_id="abcd1234",
        source="db",
        kind="postgres",
        reason="schedule",
        deployment_id=None,
        started_at=at,
        duration=1.0,
        size_bytes=1,
        added_bytes=1,
        checksums={},
        stats=None,
        verified_at=verified_at,
        verify_ok=None if verified_at is None else True,
        verify_seconds=None,
        verify_detail=None,
    )


def test_the_default_schedule_is_a_daily_backup_overdue_after_26_hours() -> None:
    assert plan.expected_within(backup()) == 26 * HOUR


def test_an_hourly_schedule_makes_a_backup_overdue_ten_minutes_after_a_missed_run() -> None:
    hourly = backup(schedule={"every": HOUR})
    assert plan.expected_within(hourly) == HOUR + 600
    # `status` reports the source as overdue once a run was missed
    (late,) = backup_plan.freshness([record(0.0)], ["db"], plan.expected_within(hourly), 4300)
    assert late.stale
    (fine,) = backup_plan.freshness([record(0.0)], ["db"], plan.expected_within(hourly), 4100)
    assert not fine.stale


def test_a_lower_max_age_wins_and_without_a_schedule_max_age_alone_counts() -> None:
    assert plan.expected_within(backup(max_age=HOUR)) == HOUR
    assert plan.expected_within(backup(schedule={"enabled": False}, max_age=5 * DAY)) == 5 * DAY


def test_the_rpo_of_a_schedule_is_its_interval_plus_the_backups_own_duration() -> None:
    assert plan.rpo(BackupSchedule(), backup_seconds=40.0) == DAY + 40.0


def test_jobs_never_run_are_due_now_and_others_once_their_interval_passed() -> None:
    schedule = BackupSchedule(every=DAY, check_every=7 * DAY)
    assert [d.job for d in plan.due(schedule, {"backup": None, "verify": None}, 100.0)] == [
        "backup",
        "verify",
    ]
    last = plan.last_runs([record(1000.0, verified_at=2000.0), record(500.0)])
    assert last == {"backup": 1000.0, "verify": 2000.0}
    assert plan.due(schedule, last, 1000.0 + DAY - 1) == []
    (backup_due,) = plan.due(schedule, last, 1000.0 + DAY + 5)
    assert (backup_due.job, backup_due.overdue_by) == ("backup", 5.0)
    assert plan.due(BackupSchedule(enabled=False), {"backup": None}, 0.0) == []


def test_the_timer_units_run_each_job_with_its_request_from_a_file_never_in_the_unit() -> None:
    units = plan.timer_units(
        "reconcile",
        "production",
        BackupSchedule(every=6 * HOUR),
        "/opt/shipyard/bin/shipyard",
        {"backup": "/srv/r/p/backups/schedule/backup.json", "verify": "/srv/x/verify.json"},
    )
    assert sorted(units) == [
        "shipyard-reconcile-production-backup.service",
        "shipyard-reconcile-production-backup.timer",
        "shipyard-reconcile-production-verify.service",
        "shipyard-reconcile-production-verify.timer",
    ]
    service = units["shipyard-reconcile-production-backup.service"]
    assert "ExecStart=/opt/shipyard/bin/shipyard host backup-run\n" in service
    assert "StandardInput=file:/srv/r/p/backups/schedule/backup.json\n" in service
    assert "Type=oneshot\n" in service
    timer = units["shipyard-reconcile-production-backup.timer"]
    assert "OnUnitActiveSec=21600s\n" in timer
    assert "Unit=shipyard-reconcile-production-backup.service\n" in timer
    assert "WantedBy=timers.target\n" in timer
    assert "every 6h" in timer
    verify_timer = units["shipyard-reconcile-production-verify.timer"]
    assert "OnUnitActiveSec=604800s\n" in verify_timer
    assert "host backup-verify" in units["shipyard-reconcile-production-verify.service"]


def test_a_percent_sign_in_the_command_is_escaped_for_systemd() -> None:
    units = plan.timer_units(
        "a", "b", BackupSchedule(), "/opt/100%/shipyard", {"backup": "/r", "verify": "/v"}
    )
    assert "ExecStart=/opt/100%%/shipyard host backup-run" in units["shipyard-a-b-backup.service"]


@pytest.mark.parametrize(
    "fields",
    [{"every": 60}, {"check_subset": "ten"}, {"check_subset": "0%"}, {"unit_dir": "etc/x"}],
)
def test_a_schedule_that_cannot_work_is_refused_at_load(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        BackupSchedule.model_validate(fields)
