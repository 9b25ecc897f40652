"""Deploys to a local environment: real nginx, real supervisord, the real example app."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port
from support.localenv import TOKEN, served_release, slot_pid

pytestmark = pytest.mark.integration


def test_deploy_then_deploy_then_rollback_serves_each_release_in_turn(
    repo: AppRepo, env_dir: Path
) -> None:
    first = repo.shipyard("deploy", "local", "--message", "first", env=TOKEN)
    assert first.returncode == 0, first.stderr + first.stdout
    v1 = repo.path.joinpath(".git").exists() and served_release(repo)
    assert v1 and v1[0] == 200 and v1[2] == "1.0.0"

    repo.commit_version("2.0.0")
    second = repo.shipyard("deploy", "local", env=TOKEN)
    assert second.returncode == 0, second.stderr + second.stdout
    status, release2, version2 = served_release(repo)
    assert (status, version2) == (200, "2.0.0")
    assert release2 != v1[1]

    warm_pid = slot_pid(env_dir / "hosts", "blue")
    back = repo.shipyard("rollback", "local", env=TOKEN)
    assert back.returncode == 0, back.stderr + back.stdout
    assert "warm" in back.stdout
    assert served_release(repo)[1:] == (v1[1], "1.0.0")
    # a warm rollback is a switch: the old process kept running, nothing was started
    assert slot_pid(env_dir / "hosts", "blue") == warm_pid
    # and the release it left is not made nginx's backup: going back means it is suspect
    run = env_dir / "hosts" / "reconcile" / "local" / "run"
    assert (run / "previous.sock").resolve() == (run / "current.sock").resolve()

    history = json.loads(repo.shipyard("history", "local", "--json").stdout)
    assert [(h["kind"], h["outcome"]) for h in history] == [
        ("rollback", "succeeded"),
        ("deploy", "succeeded"),
        ("deploy", "succeeded"),
    ]
    newest_deploy = history[1]
    assert newest_deploy["commit_sha"].startswith(release2 or "")
    assert newest_deploy["commit_time"] and newest_deploy["actor"] and newest_deploy["finished_at"]
    assert {"prepare", "boot", "check", "switch", "verify"} <= set(newest_deploy["phases"])
    assert history[2]["message"] == "first"

    releases = json.loads(repo.shipyard("releases", "local", "--json").stdout)
    assert {r["release_id"] for r in releases} == {v1[1], release2}
    assert [r["active"] for r in releases if r["release_id"] == v1[1]] == [True]

    status_json = json.loads(repo.shipyard("status", "local", "--json").stdout)
    slots = status_json["hosts"][0]["slots"]
    assert {s["slot"]: s["active"] for s in slots} == {"blue": True, "green": False}
    assert status_json["lock"] is None


def test_secrets_land_in_a_0600_env_file_and_never_in_argv_or_config(
    repo: AppRepo, env_dir: Path
) -> None:
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    env_file = env_dir / "hosts" / "reconcile" / "local" / "shared" / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "s3cr3t-value-42" in env_file.read_text()
    pid = slot_pid(env_dir / "hosts", "blue")
    assert b"API_TOKEN=s3cr3t-value-42" in Path(f"/proc/{pid}/environ").read_bytes()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                assert b"s3cr3t" not in (proc / "cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    supervisor_conf = env_dir / "hosts" / "reconcile" / "local" / "supervisor" / "supervisord.conf"
    assert "s3cr3t" not in supervisor_conf.read_text()
    checked = repo.shipyard("config", "check", "local", env=TOKEN)
    assert checked.returncode == 0
    assert "s3cr3t" not in checked.stdout + checked.stderr
    assert "***" in checked.stdout


def test_a_release_that_never_gets_healthy_is_stopped_and_the_old_one_keeps_serving(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    repo.commit_file(
        "app.py", "import sys\nprint('boom: cannot start', flush=True)\nsys.exit(3)\n", "broken"
    )
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 1
    assert "never became healthy" in result.stderr
    assert "GET http://unix:" in result.stderr  # the failing probe is shown
    assert "boom: cannot start" in result.stderr  # with the slot's last log lines
    assert served_release(repo) == before
    status = json.loads(repo.shipyard("status", "local", "--json").stdout)
    green = next(s for s in status["hosts"][0]["slots"] if s["slot"] == "green")
    assert green["process"] != "RUNNING"
    history = json.loads(repo.shipyard("history", "local", "--json").stdout)
    assert history[0]["outcome"] == "failed" and "never became healthy" in history[0]["error"]
    assert status["lock"] is None  # the lock is released when a deploy fails


def test_an_nginx_config_that_fails_nginx_t_is_rolled_back_and_nothing_switches(
    repo: AppRepo, env_dir: Path
) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    server_conf = env_dir / "hosts" / "reconcile" / "local" / "proxy" / "server.conf"
    good = server_conf.read_text()
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    data["nginx"]["server_names"] = ["example.com"]
    # a size the config accepts (digits and a unit) but past what nginx can hold: only
    # nginx -t can tell, which is what this test needs
    data["nginx"]["client_max_body_size"] = "999999999999g"
    repo.write_config(data)
    repo.commit_version("2.0.0")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 1
    assert "nginx -t rejected" in result.stderr
    assert server_conf.read_text() == good
    assert served_release(repo) == before


def test_a_held_lock_stops_a_second_deploy_with_who_and_why(repo: AppRepo) -> None:
    held = repo.shipyard("lock", "acquire", "local", "--reason", "database maintenance")
    assert held.returncode == 0, held.stderr
    blocked = repo.shipyard("deploy", "local", "--lock-wait", "0.5", env=TOKEN)
    assert blocked.returncode == 3
    assert "database maintenance" in blocked.stderr and "locked by" in blocked.stderr
    status = repo.shipyard("lock", "status", "local")
    assert "database maintenance" in status.stdout
    assert repo.shipyard("lock", "release", "local").returncode == 0
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0


def test_a_lock_whose_owner_died_is_shown_stale_and_force_release_clears_it(
    repo: AppRepo, env_dir: Path
) -> None:
    from shipyard.host import lock
    from shipyard.host.context import create_tree
    from shipyard.host.state import State
    from shipyard.plan.layout import Layout
    from shipyard.protocol.common import LockHolder

    layout = Layout(env_dir / "hosts", "reconcile", "local")
    create_tree(layout)
    child = subprocess.Popen(["true"])
    child.wait()  # its pid is that of a process that has exited
    owner = LockHolder("ci-runner", os.uname().nodename, child.pid, "deploy x", "deploy", "dep-1")
    state = State.create(layout.state_db)
    assert lock.acquire(state, owner, heartbeat=True, force=False) == (None, None)
    status = repo.shipyard("lock", "status", "local")
    assert "STALE" in status.stdout
    refused = repo.shipyard("lock", "release", "local")
    assert refused.returncode != 0
    cleared = repo.shipyard("lock", "release", "local", "--force")
    assert cleared.returncode == 0
    assert "not locked" in repo.shipyard("lock", "status", "local").stdout


def test_a_dirty_tree_is_refused_unless_allowed_and_then_marked(repo: AppRepo) -> None:
    (repo.path / "VERSION").write_text("9.9.9-local\n")
    refused = repo.shipyard("deploy", "local", env=TOKEN)
    assert refused.returncode == 5
    assert "uncommitted changes" in refused.stderr and "--allow-dirty" in refused.stderr
    allowed = repo.shipyard("deploy", "local", "--allow-dirty", env=TOKEN)
    assert allowed.returncode == 0, allowed.stderr
    assert served_release(repo)[2] == "9.9.9-local"
    releases = json.loads(repo.shipyard("releases", "local", "--json").stdout)
    assert releases[0]["dirty"] is True and "-dirty-" in releases[0]["release_id"]


def test_cold_rollback_boots_the_old_release_after_its_slot_retired(
    repo: AppRepo, env_dir: Path
) -> None:
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    data["rollback_window"] = 0
    repo.write_config(data)
    repo.commit_version("1.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    v1 = served_release(repo)
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    status = json.loads(repo.shipyard("status", "local", "--json").stdout)
    idle = next(s for s in status["hosts"][0]["slots"] if not s["active"])
    assert idle["process"] != "RUNNING"  # retired at once: rollback_window is 0
    # with the old slot gone, nginx's backup is the active slot, never a dead socket
    run = env_dir / "hosts" / "reconcile" / "local" / "run"
    assert (run / "previous.sock").resolve() == (run / "current.sock").resolve()
    back = repo.shipyard("rollback", "local", env=TOKEN)
    assert back.returncode == 0, back.stderr
    assert "cold" in back.stdout
    assert served_release(repo) == v1


def test_keep_releases_removes_old_releases_but_never_the_active_or_warm_one(
    repo: AppRepo, env_dir: Path
) -> None:
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    data["keep_releases"] = 2
    repo.write_config(data)
    releases = env_dir / "hosts" / "reconcile" / "local" / "releases"
    ids = []
    for version in ("1.1", "1.2", "1.3"):
        ids.append(repo.commit_version(version))
        assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    assert {p.name for p in releases.iterdir()} == {ids[1], ids[2]}  # 1.1 went
    # back to 1.2 (warm), then 1.4: 1.2 stays warm but is now the oldest of three
    assert repo.shipyard("rollback", "local", env=TOKEN).returncode == 0
    ids.append(repo.commit_version("1.4"))
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr + result.stdout
    status = json.loads(repo.shipyard("status", "local", "--json").stdout)
    warm = {s["release_id"] for s in status["hosts"][0]["slots"] if not s["active"]}
    assert warm == {ids[1]}
    # the newest two are 1.4 and 1.3; 1.2 is kept only because its slot is warm
    assert {p.name for p in releases.iterdir()} == {ids[3], ids[2], ids[1]}


def test_tcp_mode_switches_by_renaming_the_route_link_to_the_new_slot_and_its_backup(
    repo: AppRepo, env_dir: Path
) -> None:
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    data["listen_mode"] = "tcp"
    data["ports"] = [free_port(), free_port()]
    repo.write_config(data)
    repo.commit_version("1.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    v1 = served_release(repo)
    base = env_dir / "hosts" / "reconcile" / "local"
    route = base / "run" / "route"
    assert route.readlink() == Path("routes/blue-blue")
    repo.commit_version("2.0.0")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    assert served_release(repo)[2] == "2.0.0"
    assert route.readlink() == Path("routes/green-blue")  # the old slot backs it up
    assert repo.shipyard("rollback", "local", env=TOKEN).returncode == 0
    assert served_release(repo) == v1
    assert route.readlink() == Path("routes/blue-blue")  # never the slot it left
    assert f"127.0.0.1:{data['ports'][1]} max_fails=0" in (base / "proxy/server.conf").read_text()


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"min_free_disk_mb": 100_000_000}, "not enough free disk"),
        ({"min_free_memory_mb": 100_000_000}, "not enough free memory"),
    ],
)
def test_a_host_without_room_refuses_the_deploy_before_changing_anything(
    repo: AppRepo, env_dir: Path, resources: dict[str, int], message: str
) -> None:
    import yaml

    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    data = yaml.safe_load(repo.config.read_text())
    data["resources"] = resources
    repo.write_config(data)
    repo.commit_version("2.0.0")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 1
    assert message in result.stderr
    assert served_release(repo) == before
    releases = {p.name for p in (env_dir / "hosts" / "reconcile" / "local" / "releases").iterdir()}
    assert len(releases) == (2 if "memory" in message else 1)  # disk: refused before unpacking


def test_a_failing_gate_stops_the_deploy_before_any_host_is_touched(
    repo: AppRepo, env_dir: Path
) -> None:
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    data["gates"] = {"bandit": {"enabled": True}}
    repo.write_config(data)
    repo.commit_file(
        "unsafe.py",
        "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
        "unsafe call",
    )
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 6, result.stdout + result.stderr
    assert "bandit" in result.stdout + result.stderr
    assert not (env_dir / "hosts" / "reconcile" / "local" / "releases").exists()


def test_gate_results_are_recorded_with_the_release(repo: AppRepo) -> None:
    import yaml

    data = yaml.safe_load(repo.config.read_text())
    data["gates"] = {
        "commands": [{"name": "unit-tests", "run": "python3 -c 'print(42)'"}],
        "bandit": {"enabled": True},
    }
    repo.write_config(data)
    repo.commit_version("1.0.1")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    release = json.loads(repo.shipyard("releases", "local", "--json").stdout)[0]
    assert release["gates"]["passed"] is True
    names = {gate["name"]: gate["status"] for gate in release["gates"]["gates"]}
    assert names["unit-tests"] == "pass" and names["bandit"] == "pass"
