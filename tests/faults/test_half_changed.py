"""Hardening of the core: no secret in any output or record, files only the deploy user
can read, a serving release never removed, a switch fully done or fully undone, and a
refused boot that leaves the rollback slot alone. Each reproduces what once went wrong.
"""

from __future__ import annotations

import os
import shutil
import stat
from typing import Any

import pytest
from support.faults import FaultEnv, first_deploy, output, release_of
from support.load import Load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SECRET = "s3cr3t-never-shown-42"


def with_secret(data: dict[str, Any]) -> None:
    data["secrets"] = {"API_TOKEN": {"from_env": "TEST_API_TOKEN"}}


def test_a_secret_printed_by_a_failing_build_or_check_appears_in_no_output_or_record(
    local_env: FaultEnv,
) -> None:
    env = local_env
    env.configure(with_secret, "a secret")
    secret = {"TEST_API_TOKEN": SECRET}
    old = release_of(env.deploy(env=secret))
    # the build sees the secret (it may need it) and prints it on its way down
    env.configure(lambda d: d.update(build="echo token=$API_TOKEN; exit 1"), "a noisy build")
    built = env.deploy(env=secret)
    assert built.returncode == 1 and "token=***" in built.stderr, output(built)
    # a pre-switch command never gets the secret at all
    env.configure(
        lambda d: (
            d.pop("build"),
            d.update(pre_switch={"command": "echo seen=[$API_TOKEN]; exit 1"}),
        ),
        "a pre-switch check that would leak",
    )
    checked = env.deploy(env=secret)
    assert checked.returncode == 1 and "seen=[]" in checked.stderr, output(checked)
    for result in (built, checked):
        assert SECRET not in result.stdout + result.stderr
    history = env.shipyard("history", "--json")
    assert history.returncode == 0 and SECRET not in history.stdout
    state = (env.base() / "state.db").read_bytes()
    wal = env.base() / "state.db-wal"
    assert SECRET.encode() not in state + (wal.read_bytes() if wal.exists() else b"")
    env.assert_serving("1.0.0", old)


def test_state_logs_and_cached_artifacts_are_readable_by_the_deploy_user_only(
    local_env: FaultEnv,
) -> None:
    env = local_env
    first_deploy(env)
    base = env.base()

    def mode(path: Any) -> int:
        return stat.S_IMODE(os.stat(path).st_mode)

    assert mode(base / "state.db") == 0o600
    for name in ("releases", "shared", "logs"):
        assert mode(base / name) & 0o007 == 0, name
    for name in ("uploads", "supervisor"):
        assert mode(base / name) == 0o700, name
    for log in (base / "logs").glob("web-*.log"):
        assert mode(log) & 0o007 == 0, log
    artifacts = list((env.home / ".cache" / "shipyard" / "artifacts").glob("*.tar.gz"))
    assert artifacts and all(mode(a) == 0o600 for a in artifacts)
    # what nginx's workers must reach stays reachable
    assert mode(base) & 0o001 and mode(base / "run") & 0o001


def test_a_release_directory_a_slot_runs_is_never_replaced_by_another_artifact(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    release_dir = env.base() / "releases" / old
    manifest = release_dir / "release.json"
    # the same commit, archived differently elsewhere (another git, another tar.umask)
    manifest.write_text(manifest.read_text().replace('"digest": "', '"digest": "0'))
    with Load(*env.urls) as load:
        again = env.deploy()
    assert again.returncode == 1, output(again)
    assert "already on this host with a different artifact digest" in again.stderr
    assert not load.failed, load.report()
    assert (release_dir / "app.py").exists()  # the serving tree is intact
    env.assert_serving("1.0.0", old)


def test_a_switch_that_fails_half_way_is_undone_and_repair_finds_nothing_to_fix(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    env.commit_version("2.0.0")
    env_file = env.base() / "shared" / ".env"
    env_file.unlink(missing_ok=True)
    env_file.mkdir()  # copying the serving env file there fails, after nginx moved
    with Load(*env.urls) as load:
        result = env.deploy()
    assert result.returncode == 1, output(result)
    assert "everything was put back as it was" in result.stderr, output(result)
    assert not load.failed, load.report()
    assert set(load.releases()) == {old}, load.report()
    status = env.assert_consistent(old)
    host = status["hosts"][0]
    assert host["nginx_target"] == host["active_slot"], host
    shutil.rmtree(env_file)
    assert env.assert_deploys("2.0.0")


def test_repair_points_nginx_back_at_the_active_slot_when_it_points_elsewhere(
    local_env: FaultEnv,
) -> None:
    env = local_env
    first_deploy(env)
    env.commit_version("2.0.0")
    new = env.assert_deploys("2.0.0")
    run = env.base() / "run"
    active = env.status()["hosts"][0]["active_slot"]
    other = "green" if active == "blue" else "blue"
    # what a switch cut short between its steps once left behind
    tmp = run / ".current.sock.test"
    tmp.symlink_to(run / f"{other}.sock")
    tmp.replace(run / "current.sock")
    assert env.status()["hosts"][0]["nginx_target"] == other
    repaired = env.shipyard("repair")
    assert repaired.returncode == 0, output(repaired)
    assert f"pointed nginx at the active slot {active}" in repaired.stdout, output(repaired)
    assert env.status()["hosts"][0]["nginx_target"] == active
    env.assert_serving("2.0.0", new)


def test_a_boot_refused_for_memory_leaves_the_warm_rollback_slot_running(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    env.commit_version("2.0.0")
    new = env.assert_deploys("2.0.0")
    env.configure(
        lambda d: d.update(resources={"min_free_memory_mb": 10**8}), "needs more memory than any"
    )
    with Load(*env.urls) as load:
        refused = env.deploy()
    assert refused.returncode == 1 and "not enough free memory" in refused.stderr, output(refused)
    assert not load.failed, load.report()
    warm = [s for s in env.status()["hosts"][0]["slots"] if s["release_id"] == old]
    assert warm and warm[0]["state"] == "warm" and warm[0]["process"] == "RUNNING", warm
    back = env.shipyard("rollback")
    assert back.returncode == 0 and "warm" in back.stdout, output(back)
    env.assert_serving("1.0.0", old)
    assert new != old
