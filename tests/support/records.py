"""Typed records for unit tests: a deployment, a release, a host status with defaults."""

from __future__ import annotations

from typing import Any

from shipyard.protocol.backup import BackupRecord
from shipyard.protocol.common import Deployment, ReleaseInfo, ReleaseManifest
from shipyard.protocol.inspect import SlotStatus, StatusReply


def deployment(release_id: str, outcome: str = "succeeded", **fields: Any) -> Deployment:
    values: dict[str, Any] = {
        "id": f"dep-{release_id}-{outcome}",
        "kind": "deploy",
        "release_id": release_id,
        "previous_release_id": None,
        "commit_sha": release_id,
        "commit_time": None,
        "trigger": "manual",
        "actor": "ana@laptop",
        "message": "",
        "hosts": ["local"],
        "started_at": 100.0,
        "finished_at": 110.0,
        "outcome": outcome,
        "error": None,
        "phases": {},
        "analysis": None,
        "checks": None,
        "promoted_from": None,
    }
    values.update(fields)
    return Deployment(**values)


def release(release_id: str, status: str = "good", **fields: Any) -> ReleaseInfo:
    manifest = ReleaseManifest(
        release_id=release_id,
        commit=release_id * 3,
        commit_time="2026-11-30T10:00:00+00:00",
        ref="HEAD",
        built_at="2026-11-30T10:01:00+00:00",
        builder="ana@laptop",
        dirty=fields.pop("dirty", False),
        gates=None,
    )
    values: dict[str, Any] = {
        "release_id": release_id,
        "digest": "d" * 64,
        "manifest": manifest,
        "prepared_at": 100.0,
        "status": status,
    }
    values.update(fields)
    return ReleaseInfo(**values)


def slot_status(
    slot: str, active: bool, release_id: str | None, state: str, process: str
) -> SlotStatus:
    return SlotStatus(
        slot=slot,
        release_id=release_id,
        state=state,
        retire_at=None,
        process=process,
        workers={},
        active=active,
        probe=None,
    )


def host_status(*slots: SlotStatus) -> StatusReply:
    active = next((s for s in slots if s.active), None)
    return StatusReply(
        initialised=True,
        active_slot=active.slot if active else None,
        active_release=active.release_id if active else None,
        slots=list(slots),
        supervisor="RUNNING",
        nginx="RUNNING",
        nginx_target=active.slot if active else None,
        lock=None,
        running_deployments=[],
    )


def backup_record(
    source: str = "db", at: float = 1.0, snapshot: str = "abcd1234", **fields: Any
) -> BackupRecord:
    """A manual, never-verified backup of a PostgreSQL source; `fields` override."""
    values: dict[str, Any] = {
        "snapshot_id": snapshot,
        "source": source,
        "kind": "postgres",
        "reason": "manual",
        "deployment_id": None,
        "started_at": at,
        "duration": 1.0,
        "size_bytes": 10,
        "added_bytes": 5,
        "checksums": {},
        "stats": None,
        "verified_at": None,
        "verify_ok": None,
        "verify_seconds": None,
        "verify_detail": None,
    }
    return BackupRecord(**(values | fields))
