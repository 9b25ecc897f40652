"""Installing the backup schedule on a host, through the agent's own entry point on a
temporary root: which systemd gets the units (root: the system's, anyone else: their
own), enabling without a running systemd, idempotence and `check`, and the scheduled
jobs doing nothing on a host the environment was never deployed to."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from shipyard.host.agent import run
from shipyard.plan import schedule as plan
from shipyard.plan.layout import Layout

TIMER = "shipyard-reconcile-staging-backup.timer"
SERVICE = "shipyard-reconcile-staging-backup.service"
UNITS = {TIMER: "[Timer]\nOnUnitActiveSec=300s\n", SERVICE: "[Service]\nType=oneshot\n"}
REPOSITORY = {"url": None, "password": "pw", "env_values": {}}
SOURCES = [{"name": "uploads", "kind": "directory", "url": None, "path": "uploads"}]


def call(root: Path, op: str, **fields: Any) -> dict[str, Any]:
    return run(op, {"root": str(root), "app": "reconcile", "env": "staging", **fields})


def install(root: Path, unit_dir: Path | None, **fields: Any) -> dict[str, Any]:
    reply = call(
        root,
        "backup-schedule-install",
        units=UNITS,
        requests={"backup": '{"secret": "x"}'},
        unit_dir=str(unit_dir) if unit_dir else None,
        **({"enable": True} | fields),
    )
    assert reply["ok"], reply
    return reply


def test_unit_dir_unset_means_system_units_for_root_and_user_units_for_anyone_else() -> None:
    system = plan.unit_target(None, root=True, home="/root")
    assert (system.directory, system.systemctl) == ("/etc/systemd/system", ["systemctl"])
    user = plan.unit_target(None, root=False, home="/home/deploy")
    assert user.directory == "/home/deploy/.config/systemd/user"
    assert user.systemctl == ["systemctl", "--user"]
    assert (
        user.wants_link(TIMER) == f"/home/deploy/.config/systemd/user/timers.target.wants/{TIMER}"
    )
    assert plan.unit_target("/srv/units", root=False, home="/home/deploy").directory == "/srv/units"


def test_the_deploy_user_gets_its_own_user_units_when_unit_dir_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    reply = install(tmp_path, None)
    user_units = tmp_path / "home/.config/systemd/user"
    assert reply["manager"] == "user"
    assert (user_units / TIMER).read_text() == UNITS[TIMER]
    assert str(user_units / SERVICE) in reply["unit_files"]


def test_without_systemd_running_the_timers_are_linked_as_systemctl_enable_would(
    tmp_path: Path,
) -> None:
    units = tmp_path / "units"
    reply = install(tmp_path, units)
    link = units / "timers.target.wants" / TIMER
    assert link.is_symlink() and Path(os.readlink(link)) == units / TIMER
    assert not (units / "timers.target.wants" / SERVICE).exists()  # services are not enabled
    assert reply["enabled"] == [] and "not started" in reply["note"]  # nothing runs now
    assert str(link) in reply["changed"]


def test_a_second_install_changes_nothing_and_a_changed_unit_is_written_again(
    tmp_path: Path,
) -> None:
    units = tmp_path / "units"
    first = install(tmp_path, units)
    assert len(first["changed"]) == 4  # the request, two units, one link
    assert install(tmp_path, units)["changed"] == []
    (units / SERVICE).write_text("[Service]\nedited by hand\n")
    assert install(tmp_path, units)["changed"] == [str(units / SERVICE)]
    assert (units / SERVICE).read_text() == UNITS[SERVICE]


def test_check_says_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    units = tmp_path / "units"
    reply = install(tmp_path, units, check=True)
    request = Layout(tmp_path, "reconcile", "staging").schedule_request("backup")
    assert set(reply["changed"]) == {
        str(request), str(units / TIMER), str(units / SERVICE),
        str(units / "timers.target.wants" / TIMER),
    }  # fmt: skip
    assert not units.exists() and not request.exists()


def test_a_scheduled_backup_on_a_host_never_deployed_to_backs_up_nothing_and_says_why(
    tmp_path: Path,
) -> None:
    reply = call(
        tmp_path, "backup-run", repository=REPOSITORY, sources=SOURCES, reason="schedule",
        deployment_id=None, timeout=60, only_if_deployed=True,
    )  # fmt: skip
    assert reply["ok"], reply
    assert reply["backups"] == [] and reply["skipped"] == ["uploads"]
    assert "never deployed to this host" in reply["note"]
    layout = Layout(tmp_path, "reconcile", "staging")
    assert not layout.default_repository.exists() and not layout.state_db.exists()


def test_a_scheduled_verify_on_a_host_never_deployed_to_verifies_nothing_and_says_why(
    tmp_path: Path,
) -> None:
    reply = call(
        tmp_path, "backup-verify", repository=REPOSITORY, sources=SOURCES, snapshot_id=None,
        checks=[], read_data_subset="10%", timeout=60, only_if_deployed=True,
    )  # fmt: skip
    assert reply["ok"], reply
    assert reply["results"] == [] and "never deployed to this host" in reply["note"]


def test_the_scheduled_jobs_ask_to_wait_for_the_first_deploy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.config.loader import ConfigFile
    from shipyard.execute.backup import Plan
    from shipyard.execute.backup_schedule import job_requests

    path = tmp_path / "shipyard.yml"
    path.write_text(
        "app: reconcile\nstart: python3 app.py\nnginx: {listen: 0.0.0.0:80}\n"
        "secrets: {PW: {from_env: TEST_SCHEDULE_PW}}\n"
        "environments:\n  staging:\n    hosts: [deploy@10.0.0.6]\n    backup:\n"
        "      password_secret: PW\n"
        "      sources: [{name: uploads, type: directory, path: uploads}]\n"
    )
    monkeypatch.setenv("TEST_SCHEDULE_PW", "pw")
    requests = job_requests(Plan.load(ConfigFile.load(path), "staging"))
    assert {job: json.loads(text)["only_if_deployed"] for job, text in requests.items()} == {
        "backup": True, "verify": True}  # fmt: skip


def fake_systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool) -> Path:
    """A `systemctl` on PATH that logs its argv and XDG_RUNTIME_DIR and answers
    is-enabled/is-active as told: which commands the operation runs, not systemd."""
    from shipyard.host.operations import backup_schedule

    bin_dir, log = tmp_path / "bin", tmp_path / "systemctl.log"
    bin_dir.mkdir()
    answer = 0 if enabled else 1
    script = bin_dir / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$* XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR" >> {log}\n'
        f'case "$*" in *is-enabled*|*is-active*) exit {answer};; esac\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    booted = tmp_path / "run-systemd-system"
    booted.mkdir()
    monkeypatch.setattr(backup_schedule, "SYSTEMD_RUNNING", booted)
    return log


def test_with_systemd_running_the_deploy_user_enables_its_timers_through_its_own_manager(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = fake_systemctl(tmp_path, monkeypatch, enabled=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    reply = install(tmp_path, None)
    assert reply["enabled"] == [TIMER] and reply["manager"] == "user"
    ran = log.read_text().splitlines()
    assert f"--user enable --now {TIMER} XDG_RUNTIME_DIR=/run/user/1000" in ran
    assert "--user daemon-reload XDG_RUNTIME_DIR=/run/user/1000" in ran


def test_with_systemd_running_and_the_timers_enabled_a_second_install_runs_no_systemctl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    units = tmp_path / "units"
    install(tmp_path, units, enable=False)  # the files are there
    log = fake_systemctl(tmp_path, monkeypatch, enabled=True)
    reply = install(tmp_path, units)
    assert reply["changed"] == [] and reply["manager"] == "system"
    verbs = {line.split()[0] for line in log.read_text().splitlines()}
    assert verbs == {"is-enabled", "is-active"}  # asked, and nothing to change
