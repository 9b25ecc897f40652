"""The host operations of drills and schedules, run through the agent's own entry point
on a temporary root: records kept and read back, and the refusals that keep a drill or a
schedule from touching anything but its own files."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from shipyard.host.agent import run
from shipyard.host.state import State
from shipyard.plan.layout import Layout
from shipyard.protocol.common import DeploymentStart


def call(root: Path, op: str, **fields: Any) -> dict[str, Any]:
    return run(op, {"root": str(root), "app": "reconcile", "env": "staging", **fields})


def drill(kind: str, at: float, ok: bool = True) -> dict[str, Any]:
    return {
        "kind": kind,
        "drill": True,
        "started_at": at,
        "seconds": 1.5,
        "ok": ok,
        "steps": {"verify": 1.0, "restore": 0.5},
        "detail": "d",
        "actor": "ci",
    }


def test_drills_are_kept_and_listed_newest_first(tmp_path: Path) -> None:
    assert call(tmp_path, "drill-list", limit=10) == {"ok": True, "drills": []}
    assert not (tmp_path / "reconcile").exists()  # a read leaves no state behind
    Layout(tmp_path, "reconcile", "staging").base.mkdir(parents=True)  # as `hello` makes it
    for entry in (
        drill("restore", 100.0),
        drill("rollback", 300.0),
        drill("restore", 200.0, False),
    ):
        assert call(tmp_path, "drill-record", **entry)["ok"]
    listed = call(tmp_path, "drill-list", limit=10)["drills"]
    assert [(d["kind"], d["started_at"], d["ok"]) for d in listed] == [
        ("rollback", 300.0, True),
        ("restore", 200.0, False),
        ("restore", 100.0, True),
    ]
    assert listed[0]["steps"] == {"verify": 1.0, "restore": 0.5}


def _deployed(root: Path, deployment_id: str) -> Layout:
    layout = Layout(root, "reconcile", "staging")
    layout.base.mkdir(parents=True)
    start = DeploymentStart(
        id=deployment_id,
        kind="deploy",
        release_id="aaaaaaaaaaaa",
        previous_release_id=None,
        commit_sha=None,
        commit_time=None,
        trigger="manual",
        actor="me",
        message="",
        hosts=["local"],
        started_at=1.0,
        promoted_from=None,
    )
    State.create(layout.state_db).start_deployment(start)
    return layout


def test_teardown_refuses_an_environment_whose_newest_deployment_is_not_the_drills(
    tmp_path: Path,
) -> None:
    layout = _deployed(tmp_path, "20261202T010000-real")
    refused = call(tmp_path, "drill-teardown", deployment_id="drill-20261202T020000-x")
    assert refused["ok"] is False
    assert "refusing to tear down" in refused["error"]
    assert layout.state_db.exists()


def test_the_drill_database_op_refuses_any_database_but_a_drills_scratch(tmp_path: Path) -> None:
    url = "postgresql://app:pw@127.0.0.1:1/reconcile"
    refused = call(tmp_path, "drill-database", url=url, create=False, timeout=5)
    assert refused["ok"] is False
    assert "not a drill's scratch" in refused["error"]


def test_schedule_install_writes_units_and_0600_requests_and_refuses_other_names(
    tmp_path: Path,
) -> None:
    units = tmp_path / "units"
    fine = call(
        tmp_path,
        "backup-schedule-install",
        units={"shipyard-reconcile-staging-backup.timer": "[Timer]\n"},
        requests={"backup": '{"secret": "x"}'},
        unit_dir=str(units),
        enable=True,
    )
    assert fine["ok"], fine
    request = Layout(tmp_path, "reconcile", "staging").schedule_request("backup")
    assert stat.S_IMODE(request.stat().st_mode) == 0o600
    assert (units / "shipyard-reconcile-staging-backup.timer").read_text() == "[Timer]\n"
    assert fine["enabled"] == [] and fine["note"]  # no systemd here: written, not enabled
    for bad in ({"../../etc/cron.d/x": ""}, {"nginx.service": ""}):
        refused = call(
            tmp_path, "backup-schedule-install", units=bad, requests={}, unit_dir=str(units),
            enable=False,
        )  # fmt: skip
        assert refused["ok"] is False and "refusing to write" in refused["error"]
    traversal = call(
        tmp_path, "backup-schedule-install", units={}, requests={"../x": "{}"},
        unit_dir=str(units), enable=False,
    )  # fmt: skip
    assert traversal["ok"] is False
