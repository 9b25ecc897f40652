"""Backup incidents: an overdue source is alerted once until a backup arrives, then
recovers; an incident already alerted stays quiet after serve restarts."""

from __future__ import annotations

import time
from pathlib import Path

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.plan.backup import SourceFreshness
from shipyard.plan.backup_incidents import backup_changes, incident_key
from shipyard.serve.alerts import Alert, AlertKind, format_alert
from shipyard.serve.backup_watch import BackupWatch
from shipyard.serve.context import ServeContext
from shipyard.serve.live import LiveDeploys
from shipyard.serve.store import AlertSent, Store

NOW = time.time()  # the store keeps what was sent recently: resume reads it back
NEVER = SourceFreshness("db", None, None, None, True, None)
FRESH = SourceFreshness("db", "abcd1234", NOW - 60, 60, False, True)


def test_an_overdue_source_opens_an_incident_only_when_none_is_open() -> None:
    assert backup_changes("prod", [NEVER], []).opened == [NEVER]
    assert backup_changes("prod", [NEVER], [incident_key("prod", "db")]).opened == []


def test_a_backup_arriving_resolves_the_open_incident_and_nothing_else() -> None:
    changes = backup_changes("prod", [FRESH], [incident_key("prod", "db")])
    assert (changes.opened, changes.resolved) == ([], [FRESH])
    assert backup_changes("prod", [FRESH], []).resolved == []
    assert backup_changes("prod", [FRESH], [incident_key("staging", "db")]).resolved == []


def watch(tmp_path: Path, sent: list[Alert]) -> BackupWatch:
    path = tmp_path / "shipyard.yml"
    path.write_text(
        """\
app: shop
start: python3 app.py
environments:
  prod:
    hosts: [local]
    secrets: {RESTIC_PASSWORD: {from_env: NONE}}
    backup:
      password_secret: RESTIC_PASSWORD
      sources: [{name: db, type: sqlite, path: data/db.sqlite}]
"""
    )
    config = ShipyardConfig.load(path)
    store = Store.open(tmp_path / "serve.db")
    ctx = ServeContext(config, path, store, "http://dash.test", LiveDeploys())

    def send(alert: Alert) -> None:  # what serve's Alerter records when it sends
        sent.append(alert)
        title, body = format_alert(alert)
        store.record_alert(AlertSent(alert.at, alert.kind.value, alert.env, title, body))

    return BackupWatch(ctx, send)


def test_the_watch_alerts_once_recovers_once_and_a_restart_remembers_both(
    tmp_path: Path,
) -> None:
    sent: list[Alert] = []
    first = watch(tmp_path, sent)
    assert [a.kind for a in first.alert("prod", [NEVER], NOW)] == [AlertKind.BACKUP_MISSING]
    assert first.alert("prod", [NEVER], NOW + 300) == []
    assert watch(tmp_path, sent).alert("prod", [NEVER], NOW + 600) == []  # restarted: quiet
    recovered = watch(tmp_path, sent).alert("prod", [FRESH], NOW + 900)
    assert [(a.kind, a.what) for a in recovered] == [
        (AlertKind.BACKUP_RECOVERED, "backup source db is backed up again")
    ]
    # recovered before the restart: the next miss is a new incident
    assert [a.kind for a in watch(tmp_path, sent).alert("prod", [NEVER], NOW + 1200)] == [
        AlertKind.BACKUP_MISSING
    ]
    assert len(sent) == 3
