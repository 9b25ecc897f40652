"""Drills and schedules on a local environment with real nginx, supervisord, PostgreSQL,
SQLite and restic: `drill rollback` and `drill restore` record their real recovery times
for `status`; the scheduled backup runs from its systemd unit's own command line, and a
backup that does not run within its interval fails `status --check`."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.apprepo import AppRepo
from support.backupenv import backup_repo, backup_secrets, json_of, needs_restic, seed
from support.localenv import served_release, shutdown
from support.postgres import PgServer, postgres_server

pytestmark = pytest.mark.integration


@dataclass
class Drilled:
    repo: AppRepo
    dir: Path
    pg: PgServer
    secrets: dict[str, str]
    units: Path


@pytest.fixture(scope="module")
def drilled() -> Iterator[Drilled]:
    """Two releases deployed (so there is a predecessor), data in every source, one backup."""
    needs_restic()
    path = Path(tempfile.mkdtemp(prefix="syd-", dir="/tmp"))
    path.chmod(0o755)
    units = path / "units"
    with postgres_server() as pg:
        repo = backup_repo(path, schedule={"every": 300, "unit_dir": str(units)})
        secrets = backup_secrets(pg)
        assert repo.shipyard("deploy", "local", env=secrets).returncode == 0
        repo.commit_version("2.0.0")
        assert repo.shipyard("deploy", "local", env=secrets).returncode == 0
        seed(pg, path)
        backed_up = repo.shipyard("backup", "run", "local", env=secrets)
        assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
        yield Drilled(repo, path, pg, secrets, units)
        shutdown(path / "hosts")
    subprocess.run(["rm", "-rf", str(path)], check=False)


def drills_of(d: Drilled) -> dict[str, dict[str, object]]:
    status = json_of(d.repo.shipyard("status", "local", "--json", env=d.secrets))
    return {str(entry["kind"]): entry for entry in status["drills"]}


def test_drill_rollback_goes_to_the_predecessor_and_forward_again_recording_the_time(
    drilled: Drilled,
) -> None:
    done = drilled.repo.shipyard("drill", "rollback", "local", env=drilled.secrets)
    assert done.returncode == 0, done.stdout + done.stderr
    assert served_release(drilled.repo)[2] == "2.0.0"  # forward again
    entry = drills_of(drilled)["rollback"]
    assert entry["ok"] is True and entry["drill"] is True
    assert set(entry["steps"]) == {"rollback", "forward"}  # type: ignore[arg-type]
    assert entry["seconds"] == entry["steps"]["rollback"]  # type: ignore[index]
    status = drilled.repo.shipyard("status", "local", env=drilled.secrets)
    assert "drill rollback: ok" in status.stdout


def test_drill_restore_verifies_every_source_in_scratch_and_records_it(drilled: Drilled) -> None:
    done = drilled.repo.shipyard("drill", "restore", "local", env=drilled.secrets)
    assert done.returncode == 0, done.stdout + done.stderr
    entry = drills_of(drilled)["restore"]
    assert entry["ok"] is True
    assert set(entry["steps"]) == {"db", "notes", "uploads"}  # type: ignore[arg-type]
    assert drilled.pg.psql("app", "SELECT count(*) FROM t") == "100"  # live data untouched


def test_a_drill_restore_whose_checks_fail_is_recorded_as_failed(drilled: Drilled) -> None:
    drilled.pg.psql("app", "DELETE FROM t WHERE id > 50")
    try:
        assert drilled.repo.shipyard("backup", "run", "local", env=drilled.secrets).returncode == 0
        failed = drilled.repo.shipyard("drill", "restore", "local", env=drilled.secrets)
    finally:
        drilled.pg.psql("app", "INSERT INTO t SELECT g, 'row' FROM generate_series(51, 100) g")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "drill restore of local failed (recorded)" in failed.stderr
    entry = drills_of(drilled)["restore"]
    assert entry["ok"] is False
    assert "'SELECT count(*) FROM t' gave '50', expected '100'" in str(entry["detail"])


def test_the_scheduled_backup_runs_from_its_unit_and_a_missed_one_fails_status(
    drilled: Drilled,
) -> None:
    installed = drilled.repo.shipyard("backup", "schedule", "install", "local", env=drilled.secrets)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "systemd is not running here" in installed.stdout
    service = (drilled.units / "shipyard-reconcile-local-backup.service").read_text()
    assert (drilled.units / "shipyard-reconcile-local-backup.timer").exists()
    assert (
        "OnUnitActiveSec=300s"
        in (drilled.units / "shipyard-reconcile-local-backup.timer").read_text()
    )
    assert "secret" not in service.lower() and drilled.secrets["TEST_RESTIC_PW"] not in service
    command = re.search(r"^ExecStart=(.*)$", service, re.M)
    request = re.search(r"^StandardInput=file:(.*)$", service, re.M)
    assert command and request
    assert stat.S_IMODE(os.stat(request.group(1)).st_mode) == 0o600

    # what systemd would run, as it would run it: the command, the request on stdin
    with open(request.group(1), "rb") as stdin:
        ran = subprocess.run(
            command.group(1).split(), stdin=stdin, capture_output=True, check=False
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    listed = json_of(
        drilled.repo.shipyard("backup", "list", "local", "--json", env=drilled.secrets)
    )
    assert {b["reason"] for b in listed[:3]} == {"schedule"}
    fresh = drilled.repo.shipyard("status", "local", "--check", env=drilled.secrets)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr

    # the next run does not happen: past the interval (300 s) and its grace (600 s)
    state = drilled.dir / "hosts" / "reconcile" / "local" / "state.db"
    db = sqlite3.connect(state)
    with db:
        db.execute("UPDATE backups SET started_at = started_at - 1000")
    db.close()
    missed = drilled.repo.shipyard("status", "local", "--check", env=drilled.secrets)
    assert missed.returncode == 1, missed.stdout + missed.stderr
    assert "BACKUP OVERDUE: db has no backup within backup.max_age" in missed.stdout
