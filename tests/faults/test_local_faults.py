"""Faults in a local environment: a broken release, a failing migration, a bad nginx
config, two operators at once, a dead operator's lock, a full disk, a tampered artifact.

Each test deploys a good release first, then the fault, with a client sending requests
through nginx all along. It asserts that the old release kept serving without a single
failed request, that the state is consistent afterwards (`status --json`, `history
--json`), and that the next deploy succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

import pytest
from support.faults import (
    FaultEnv,
    assert_failed_cleanly,
    first_deploy,
    host_op,
    output,
    plant_stale_lock,
    release_of,
    tmpfs,
)
from support.load import Load

from shipyard.config.loader import ConfigFile
from shipyard.plan import requests
from shipyard.protocol.codec import encode
from shipyard.release.artifact import build_artifact

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def set_env_var(env: FaultEnv, name: str, value: str | None) -> Any:
    """A change for FaultEnv.configure: set (or remove) a variable in the env section."""

    def change(data: dict[str, Any]) -> None:
        values = env.env_settings(data).setdefault("env", {})
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value

    return change


def test_a_release_that_never_gets_healthy_fails_and_the_old_one_keeps_serving(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    env.configure(set_env_var(env, "RECONCILE_FAIL_HEALTH", "1"), "health fails")
    with Load(*env.urls) as load:
        result = env.deploy()
    status, newest = assert_failed_cleanly(env, result, load, old, says=("never became healthy",))
    assert "never became healthy" in newest["error"]
    # the failed slot was stopped: only the serving one runs
    slots = status["hosts"][0]["slots"]
    assert [s["slot"] for s in slots if s["process"] == "RUNNING"] == [
        s["slot"] for s in slots if s["active"]
    ]
    bad = {r["release_id"]: r["status"] for r in env.releases()}
    assert bad[release_of(result)] == "bad"

    env.configure(set_env_var(env, "RECONCILE_FAIL_HEALTH", None), "health fixed")
    env.commit_version("2.0.0")
    env.assert_deploys("2.0.0")


def test_a_start_command_that_does_not_exist_fails_and_the_old_one_keeps_serving(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    env.configure(lambda data: data.update(start="no-such-command"), "start is wrong")
    with Load(*env.urls) as load:
        result = env.deploy()
    assert_failed_cleanly(env, result, load, old, says=("never became healthy",))

    env.configure(lambda data: data.update(start="python3 app.py"), "start fixed")
    env.commit_version("2.0.0")
    env.assert_deploys("2.0.0")


def test_a_failing_release_command_boots_nothing_and_the_old_one_keeps_serving(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    env.configure(lambda data: data.update(release_command="exit 7"), "migration fails")
    with Load(*env.urls) as load:
        result = env.deploy()
    status, _ = assert_failed_cleanly(env, result, load, old, says=("exited with status 7",))
    attempted = release_of(result)
    assert "boot start" not in result.stdout, output(result)
    for slot in status["hosts"][0]["slots"]:
        assert slot["release_id"] != attempted, slot  # never booted anywhere
    log = env.base() / "logs" / f"release-{attempted}.log"
    assert log.exists()

    env.configure(lambda data: data.update(release_command="true"), "migration fixed")
    env.commit_version("2.0.0")
    env.assert_deploys("2.0.0")


def test_an_nginx_config_that_fails_nginx_t_is_restored_and_the_old_one_keeps_serving(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    proxy = env.base() / "proxy"
    before = {p.name: p.read_text() for p in proxy.glob("*.conf")}
    size = env.config()["nginx"].get("client_max_body_size", "10m")
    env.configure(  # valid for the config (digits and a unit), past what nginx can hold
        lambda data: data["nginx"].update(client_max_body_size="999999999999g"),
        "nginx cannot hold that size",
    )
    with Load(*env.urls) as load:
        result = env.deploy()
    assert {p.name: p.read_text() for p in proxy.glob("*.conf")} == before
    status, _ = assert_failed_cleanly(env, result, load, old, says=("nginx -t rejected",))
    assert status["hosts"][0]["nginx"] == "RUNNING"

    env.configure(lambda data: data["nginx"].update(client_max_body_size=size), "fixed")
    env.commit_version("2.0.0")
    env.assert_deploys("2.0.0")


def test_of_two_deploys_at_once_one_succeeds_and_the_other_is_refused_naming_the_holder(
    local_env: FaultEnv,
) -> None:
    env = local_env
    first_deploy(env)
    # a slow boot keeps the winner inside the lock while the other one asks for it
    env.configure(set_env_var(env, "RECONCILE_BOOT_DELAY", "1.5"), "slow boot")
    env.commit_version("2.0.0")
    with Load(*env.urls) as load:
        runs = {
            actor: env.start("deploy", env={"SHIPYARD_ACTOR": actor})
            for actor in ("deployer-a", "deployer-b")
        }
        results = {actor: run.result(120) for actor, run in runs.items()}
    codes = sorted(r.returncode for r in results.values())
    assert codes == [0, 3], [output(r) for r in results.values()]
    winner = next(a for a, r in results.items() if r.returncode == 0)
    loser = next(a for a, r in results.items() if r.returncode == 3)
    refusal = results[loser].stderr
    assert f"locked by {winner} from {os.uname().nodename} (pid {runs[winner].pid})" in refusal
    assert not load.failed, load.report()
    assert set(load.versions()) <= {"1.0.0", "2.0.0"}, load.report()

    release = release_of(results[winner])
    env.assert_serving("2.0.0", release)
    env.assert_consistent(release)  # the lock is free again
    history = env.history()
    assert (history[0]["outcome"], history[0]["actor"]) == ("succeeded", winner)
    assert len(history) == 2  # the first deploy, the winner's; the refused one left none
    env.configure(set_env_var(env, "RECONCILE_BOOT_DELAY", None), "normal boot")
    env.commit_version("3.0.0")
    env.assert_deploys("3.0.0")


def test_a_lock_whose_owner_died_is_shown_stale_and_force_release_clears_it(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old = first_deploy(env)
    holder = plant_stale_lock(env.roots[0], env.name)

    lock = env.status()["lock"]
    assert lock is not None and lock["stale"] is True and lock["pid"] == holder["pid"]
    shown = env.shipyard("lock", "status")
    assert "STALE" in shown.stdout and "crashed-operator" in shown.stdout, output(shown)
    # somebody else's lock is not released without --force
    refused = env.shipyard("lock", "release")
    assert refused.returncode != 0, output(refused)

    cleared = env.shipyard("lock", "release", "--force")
    assert cleared.returncode == 0, output(cleared)
    assert "crashed-operator" in cleared.stdout, output(cleared)
    env.assert_serving("1.0.0", old)
    env.assert_consistent(old)  # the lock is free
    env.commit_version("2.0.0")
    env.assert_deploys("2.0.0")


def test_a_deploy_takes_over_a_lock_whose_owner_is_provably_dead(local_env: FaultEnv) -> None:
    env = local_env
    first_deploy(env)
    plant_stale_lock(env.roots[0], env.name)
    env.commit_version("2.0.0")
    with Load(*env.urls) as load:
        result = env.deploy()
    assert result.returncode == 0, output(result)
    assert "crashed-operator" in result.stdout, output(result)  # it says whose lock it took
    assert not load.failed, load.report()
    release = release_of(result)
    env.assert_serving("2.0.0", release)
    env.assert_consistent(release)  # and the lock is free afterwards


@pytest.mark.parametrize(
    ("where", "content"),
    [
        # 3 MB that does not compress: the artifact itself does not fit
        pytest.param("upload", lambda: os.urandom(3 * 1024 * 1024), id="upload"),
        # 6 MB that compresses to a few KB: the upload fits, unpacking it does not
        pytest.param("unpack", lambda: b"\0" * (6 * 1024 * 1024), id="unpack"),
    ],
)
def test_a_full_disk_fails_the_deploy_cleanly_and_the_old_one_keeps_serving(
    local_env: FaultEnv, where: str, content: Any
) -> None:
    env = local_env
    # the up-front disk check would refuse even the first deploy on so small a disk:
    # relax it, so the deploy really runs out of space
    env.configure(
        lambda data: data.update(resources={"min_free_disk_mb": 0, "disk_per_artifact": 1}),
        "no disk reserve",
    )
    with tmpfs(env.roots[0], size_kb=2048):
        try:
            old = first_deploy(env)
            (env.repo.path / "data.bin").write_bytes(content())
            env.commit("a large file")
            with Load(*env.urls) as load:
                result = env.deploy()
            assert result.returncode == 1, output(result)
            # a clear error: the disk is full (not: something is wrong with the artifact)
            assert "No space left on device" in result.stderr, output(result)
            assert "leave the release directory" not in result.stderr, output(result)
            # nothing half-written is left behind: no release, no artifact taking up room
            assert env.release_dirs() == {old}
            assert not list((env.base() / "uploads").iterdir()), "left behind in uploads/"
            assert_failed_cleanly(env, result, load, old)

            (env.repo.path / "data.bin").unlink()
            env.commit_version("2.0.0")
            env.assert_deploys("2.0.0")
        finally:
            env.shutdown()  # nothing may keep files open on the tmpfs


def test_an_artifact_that_does_not_match_its_digest_is_refused_and_nothing_unpacked(
    local_env: FaultEnv, tmp_path: Any
) -> None:
    """The host operation itself: the upload is there, the digest says otherwise."""
    env = local_env
    old_id = first_deploy(env)
    env.commit_version("2.0.0")
    good = build_artifact(env.repo.path, "HEAD", allow_dirty=False, cache_dir=tmp_path)
    old = build_artifact(env.repo.path, "HEAD~1", allow_dirty=False, cache_dir=tmp_path / "old")
    config = ConfigFile.load(env.repo.config).environment(env.name)
    entry = config.hosts[0]
    uploads = env.base() / "uploads"
    upload = uploads / f"{good.release_id}.tar.gz"

    def prepare(digest: str) -> dict[str, Any]:
        request = requests.prepare(
            config, entry, manifest=good.manifest, digest=digest, env_values={}
        )
        assert request.artifact == str(upload)
        scope = requests.scope(config, entry)
        wire = {"root": scope.root, "app": scope.app, "env": scope.env} | encode(request)
        return host_op("prepare", wire)

    cases = {
        # the right bytes, announced with another digest
        "wrong digest": (good.path, good.digest[::-1]),
        # other (valid!) bytes under the release's name, announced with its real digest
        "tampered upload": (old.path, good.digest),
    }
    for what, (source, digest) in cases.items():
        shutil.copy(source, upload)
        reply = prepare(digest)
        assert reply["ok"] is False, (what, reply)
        assert "digest mismatch" in reply["error"], (what, reply)
        assert env.release_dirs() == {old_id}, what  # nothing unpacked, not even half
        upload.unlink(missing_ok=True)
    env.assert_serving("1.0.0", old_id)
    # the genuine artifact is accepted by the same operation
    shutil.copy(good.path, upload)
    assert prepare(good.digest)["ok"] is True
    assert good.release_id in env.release_dirs()


def test_an_artifact_tampered_with_between_build_and_upload_is_refused_by_the_host(
    local_env: FaultEnv,
) -> None:
    """End to end: the deploy waits for a held lock after building; meanwhile the built
    artifact is replaced with another valid one. The host must notice."""
    env = local_env
    old = first_deploy(env)
    cache = env.home / ".cache" / "shipyard" / "artifacts"
    old_artifact = (cache / f"{old}.tar.gz").read_bytes()
    release = env.commit_version("2.0.0")
    held = env.shipyard("lock", "acquire", "--reason", "tamper window")
    assert held.returncode == 0, output(held)
    with Load(*env.urls) as load:
        run = env.start("deploy", "--lock-wait", "30")
        built = cache / f"{release}.tar.gz"
        deadline = time.monotonic() + 30
        while not built.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert built.exists(), "the deploy did not build its artifact"
        assert run.process.poll() is None, output(run.result())
        swap = built.with_suffix(".swap")  # in one rename: the deploy may be reading it
        swap.write_bytes(old_artifact)  # release 1.0.0's bytes, under 2.0.0's name
        swap.replace(built)
        assert env.shipyard("lock", "release").returncode == 0
        result = run.result(60)
    assert_failed_cleanly(env, result, load, old, says=("digest mismatch",))
    assert env.release_dirs() == {old}
    env.assert_deploys("2.0.0")  # built afresh: the genuine artifact goes through
    assert json.loads((env.base() / "releases" / release / "release.json").read_text())
