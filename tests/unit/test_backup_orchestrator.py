"""The backup before a migration, as the orchestrator runs it (against the recording
fake host): on the primary, after PREPARE and before the release command, linked to the
deployment record; a failed backup stops the deploy before anything is migrated."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fakehost import FakeFleet

from shipyard.config.loader import ConfigFile
from shipyard.execute import pipeline
from shipyard.execute.outcomes import DeployFailed
from shipyard.execute.reporter import SilentReporter
from shipyard.protocol.backup import BackupRecord, BackupRunReply, BackupRunRequest
from shipyard.protocol.common import SlotRow

H1, H2 = "deploy@10.0.0.1", "deploy@10.0.0.2"


def make_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **backup: Any) -> ConfigFile:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DB_URL", "postgresql://app:pw@db/shop")
    monkeypatch.setenv("RESTIC_PW", "restic-pw")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "serve.sh").write_text("#!/bin/sh\nexec true\n")
    document: dict[str, Any] = {
        "app": "shop",
        "start": "./serve.sh",
        "release_command": "./migrate",
        "observe": {"window": 0},
        "gates": {"bandit": {"enabled": False}},
        "secrets": {
            "DATABASE_URL": {"from_env": "DB_URL"},
            "RESTIC_PASSWORD": {"from_env": "RESTIC_PW"},
        },
        "backup": {
            "password_secret": "RESTIC_PASSWORD",
            "sources": [
                {"name": "db", "type": "postgres", "secret": "DATABASE_URL"},
                {"name": "uploads", "type": "directory", "path": "uploads"},
            ],
            **backup,
        },
        "environments": {"staging": {"hosts": [H1, H2]}},
    }
    (repo / "shipyard.yml").write_text(yaml.safe_dump(document))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@x", *args],
            check=True,
            capture_output=True,
        )
    return ConfigFile.load(repo / "shipyard.yml")


def fleet_serving() -> FakeFleet:
    fleet = FakeFleet()
    for host in (H1, H2):
        model = fleet.model("staging", host)
        model.active_slot, model.active_release = "blue", "old"
        model.slots["blue"] = SlotRow("blue", "old", "active", 1.0, None)
    return fleet


def taken(request: BackupRunRequest) -> BackupRunReply:
    return BackupRunReply(
        backups=[
            BackupRecord(
                snapshot_id="5n4p5h07",
                source=source.name,
                kind=source.kind,
                reason=request.reason,
                deployment_id=request.deployment_id,
                started_at=1.0,
                duration=0.5,
                size_bytes=100,
                added_bytes=50,
                checksums={},
                stats=None,
                verified_at=None,
                verify_ok=None,
                verify_seconds=None,
                verify_detail=None,
            )
            for source in request.sources
        ]
    )


def deploy(config: ConfigFile, fleet: FakeFleet) -> Any:
    runtime = pipeline.Runtime(reporter=SilentReporter(), hosts=fleet.factory)
    return asyncio.run(pipeline.deploy(config, "staging", runtime, message="test"))


def test_the_databases_are_backed_up_on_the_primary_before_the_release_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_serving()
    fleet.answer("staging", H1, "backup-run", taken)
    deploy(make_config(tmp_path, monkeypatch), fleet)
    primary = fleet.ops(H1)
    assert primary.index("prepare") < primary.index("backup-run") < primary.index("release-command")
    assert "backup-run" not in fleet.ops(H2)
    (call,) = fleet.calls("backup-run")
    request = call.request
    assert [s.name for s in request.sources] == ["db"]  # databases only, not uploads
    assert request.reason == "pre-migration"
    assert request.repository.password == "restic-pw"
    linked = [c.request for c in fleet.calls("record-update") if c.request.backups]
    assert linked and linked[0].backups[0]["snapshot_id"] == "5n4p5h07"
    assert linked[0].deployment_id == request.deployment_id


def test_a_failed_backup_stops_the_deploy_before_the_migration_and_blames_no_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_serving()
    fleet.fail("staging", H1, "backup-run", "pg_dump of db failed: connection refused")
    with pytest.raises(DeployFailed, match="backup failed"):
        deploy(make_config(tmp_path, monkeypatch), fleet)
    assert "release-command" not in fleet.ops(H1)
    assert "boot" not in fleet.ops(H1)
    assert [c.request.status for c in fleet.calls("set-release-status")] == []
    assert fleet.model("staging", H1).active_release == "old"


def test_no_backup_is_taken_when_before_migrations_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_serving()
    deploy(make_config(tmp_path, monkeypatch, before_migrations=False), fleet)
    assert "backup-run" not in fleet.ops(H1)
    assert "release-command" in fleet.ops(H1)
