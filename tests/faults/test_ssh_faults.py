"""Faults in a fleet of three SSH hosts: a host unreachable, a host failing its check, and
the SSH link to a host dropped in the middle of the upload and of the switch.

The hosts are real sshd instances on 127.0.0.11-13, with one environment on them that the
tests of this module share (deploying takes a while on three hosts): each test starts
from whatever release the previous one left serving, and leaves it converged, with a
client sending requests to every host's nginx all along. The second host is reached
through a LinkCut forwarder that resets the SSH connection at a chosen moment.
"""

from __future__ import annotations

import os
import re

import pytest
from support.faults import (
    Fleet,
    assert_failed_cleanly,
    holding_slot_guard,
    output,
    release_of,
    stop_sshd,
)
from support.load import Load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


def test_a_host_unreachable_at_the_start_stops_the_deploy_before_anything_changes(
    fleet_env: Fleet,
) -> None:
    env, old = fleet_env.env, fleet_env.release
    before = [env.release_dirs(i) for i in range(3)]
    down = env.hosts[2]
    stop_sshd(down)
    try:
        env.commit_version("2.0.0")
        with Load(*env.urls) as load:
            result = env.deploy()
    finally:
        down.start()
    assert result.returncode == 4, output(result)
    assert str(down.target) in result.stderr and "refused" in result.stderr, output(result)
    assert not load.failed, load.report()
    assert set(load.releases()) == {old}, load.report()
    # nothing changed anywhere: no new release directory, the old release serving
    assert [env.release_dirs(i) for i in range(3)] == before
    env.assert_serving(fleet_env.version, old)
    env.assert_consistent(old)
    assert env.history()[0]["release_id"] == old  # the attempt never started
    fleet_env.version, fleet_env.release = "2.0.0", env.assert_deploys("2.0.0")


def test_a_host_failing_its_check_aborts_the_fleet_and_no_host_switches(
    fleet_env: Fleet,
) -> None:
    env, old = fleet_env.env, fleet_env.release
    app = (env.repo.path / "app.py").read_text()
    broken_root = str(env.roots[1])
    env.repo.commit_file(
        "app.py",
        app.replace(
            "def main(",
            f"import os as _os\nif _os.getcwd().startswith({broken_root!r}):\n"
            "    raise SystemExit('broken on this host only')\n\n\ndef main(",
            1,
        ),
        "break the second host",
    )
    with Load(*env.urls) as load:
        result = env.deploy()
    assert "switch start" not in result.stdout, output(result)
    _, newest = assert_failed_cleanly(
        env, result, load, old, says=("broken on this host only",), version=fleet_env.version
    )
    assert f"{env.hosts[1].address}:{fleet_env.link.port} check" in newest["error"]

    env.repo.commit_file("app.py", app, "repair the second host")
    env.commit_version("3.0.0")
    fleet_env.version, fleet_env.release = "3.0.0", env.assert_deploys("3.0.0")


def test_an_ssh_link_dropped_mid_upload_fails_the_deploy_and_the_old_release_keeps_serving(
    fleet_env: Fleet,
) -> None:
    env, link, old = fleet_env.env, fleet_env.link, fleet_env.release
    payload = env.repo.path / "payload.bin"
    # a few MB that do not compress, so the upload takes a while: cut 1 MB into it
    payload.write_bytes(os.urandom(4 * 1024 * 1024))
    env.commit("a large file")
    link.cut_after(upstream_bytes=1024 * 1024)
    try:
        with Load(*env.urls) as load:
            result = env.deploy()
    finally:
        link.disarm()
    assert link.cut_done.is_set(), "the link was never cut"
    assert result.returncode == 1, output(result)
    cut_host = f"root@{env.hosts[1].address}:{link.port}"
    assert f"prepare failed on {cut_host}" in result.stderr, output(result)
    assert "switch start" not in result.stdout, output(result)
    assert_failed_cleanly(env, result, load, old, version=fleet_env.version)
    assert release_of(result) not in env.release_dirs(1)

    payload.unlink()
    env.commit_version("4.0.0")
    # through the same forwarder: the link is back
    fleet_env.version, fleet_env.release = "4.0.0", env.assert_deploys("4.0.0")


@pytest.mark.parametrize("converge", ["deploy", "repair"])
def test_an_ssh_link_dropped_mid_switch_keeps_every_host_serving_and_then_converges(
    fleet_env: Fleet, converge: str
) -> None:
    env, link = fleet_env.env, fleet_env.link
    old_version, version = fleet_env.version, {"deploy": "5.1.0", "repair": "5.2.0"}[converge]
    # a new release that takes a moment to boot: time to get hold of host two's mutex
    env.configure(
        lambda data: env.env_settings(data).update(env={"RECONCILE_BOOT_DELAY": "0.5"}),
        "slow boot",
    )
    env.commit_version(version)
    label = re.escape(f"root@{env.hosts[1].address}:{link.port}")
    with Load(*env.urls) as load:
        run = env.start("deploy")
        run.wait_for_line(rf"{label} boot ok")
        # host two's switch waits for this mutex: the request is on the wire, and the
        # host working on it, when the link is cut
        with holding_slot_guard(env.base(1)) as guard:
            run.wait_for_line(rf"{label} switch start")
            guard.wait_for_agent()  # host two's agent is blocked in the switch
            assert link.cut() >= 1
        result = run.result(120)
        assert result.returncode == 1, output(result)
        mid = env.served()  # every host answers, with the old or the new release
        after = env.deploy() if converge == "deploy" else env.shipyard("repair")
        assert after.returncode == 0, output(after)
    assert not load.failed, load.report()
    assert set(load.versions()) <= {old_version, version}, load.report()
    assert all(status == 200 for status, _, _ in mid), mid
    assert {served for _, _, served in mid} <= {old_version, version}, mid
    if converge == "deploy":
        fleet_env.version, fleet_env.release = version, release_of(after)
    # repair: back on the newest release that deployed successfully, the old one
    env.assert_serving(fleet_env.version, fleet_env.release)
    env.assert_consistent(fleet_env.release)  # every host on one release, the lock free
    env.configure(lambda data: env.env_settings(data).pop("env"), "normal boot")
    if converge == "repair":
        env.commit_version("6.0.0")
        fleet_env.version, fleet_env.release = "6.0.0", env.assert_deploys("6.0.0")
