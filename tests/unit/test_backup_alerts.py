"""A missed scheduled backup, as an alert: one per overdue source, saying since when it
is overdue and what to run, through serve's one formatter."""

from __future__ import annotations

from shipyard.plan.backup import SourceFreshness
from shipyard.serve.alerts import AlertKind, format_alert
from shipyard.serve.backup_alerts import backup_alerts

DAY = 86400.0


def test_each_overdue_source_becomes_one_backup_missing_alert() -> None:
    now = 10 * DAY
    freshness = [
        SourceFreshness("db", "abcd1234", now - 3 * DAY, 3 * DAY, True, True),
        SourceFreshness("uploads", None, None, None, True, None),
        SourceFreshness("notes", "ef012345", now - 3600, 3600, False, True),
    ]
    db, uploads = backup_alerts("production", freshness, 26 * 3600, now=now)
    assert (db.kind, uploads.kind) == (AlertKind.BACKUP_MISSING, AlertKind.BACKUP_MISSING)
    assert db.what == "backup source db missed its scheduled backup"
    assert db.since == now - 3 * DAY + 26 * 3600  # overdue since the schedule's limit
    assert uploads.what == "backup source uploads has never been backed up"
    title, body = format_alert(db)
    assert title == "[BACKUP MISSING] production: backup source db missed its scheduled backup"
    assert "shipyard backup run production" in body
    assert "expected a backup at least every 26.0 h" in body


def test_no_alert_while_every_source_is_within_its_schedule() -> None:
    fresh = [SourceFreshness("db", "abcd1234", 0.0, 60.0, False, None)]
    assert backup_alerts("production", fresh, 3600, now=60.0) == []
