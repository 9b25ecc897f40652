"""The operator's `shipyard deploy` SIGKILLed at each phase boundary (a lost laptop, an OOM
kill, a CI runner cancelled): the environment must keep serving, show the interrupted
deployment and the dead owner's lock, and the next deploy must converge.

The operator runs with a phase observer the tests inject (tests/support/killing_operator.py)
that kills it with SIGKILL right after that phase completed on every host. All cases share one local
environment, deploying a new version each; every case leaves it converged.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from support.faults import (
    FaultEnv,
    Janitor,
    discard_local_env,
    first_deploy,
    new_local_env,
    output,
    release_of,
)
from support.load import Load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PHASES = ["prepare", "release-command", "boot", "check", "switch", "verify", "cleanup"]


@dataclass
class Deployed:
    env: FaultEnv
    version: str
    release: str


@pytest.fixture(scope="module")
def deployed(janitor: Janitor) -> Iterator[Deployed]:
    env = new_local_env()
    try:
        env.configure(lambda data: data.update(release_command="true"), "a release command")
        yield Deployed(env, "1.0.0", first_deploy(env))
    finally:
        janitor.later(lambda: discard_local_env(env))


@pytest.mark.parametrize("phase", PHASES)
def test_an_operator_killed_after_a_phase_leaves_the_environment_serving_and_the_next_deploy_converges(
    deployed: Deployed, phase: str
) -> None:
    env = deployed.env
    version = f"1.{PHASES.index(phase) + 1}.0"
    env.commit_version(version)
    with Load(*env.urls) as load:
        killed = env.deploy(kill_after=phase)
        assert killed.returncode == -signal.SIGKILL, output(killed)
        assert f"{phase} ok" in killed.stdout, output(killed)
        attempted = release_of(killed)
        served = env.served()
        status = env.status()
        converged = env.deploy()
    # it kept serving, the old release or (after the switch) the new one
    assert [answer[0] for answer in served] == [200] * len(env.urls), served
    assert not load.failed, load.report()
    assert set(load.versions()) <= {deployed.version, version}, load.report()
    # the interrupted deployment and its dead owner's lock are there to see
    last = status["last_deployment"]
    assert last["release_id"] == attempted and last["outcome"] in ("running", "interrupted")
    lock = status["lock"]
    assert lock is not None and lock["stale"] is True, lock
    assert lock["deployment_id"] == last["id"], (lock, last)
    # and the next deploy took over and converged
    assert converged.returncode == 0, output(converged)
    release = release_of(converged)
    assert release == attempted
    if last["outcome"] == "running":  # and said what it found
        assert f"marked deploy {last['id']} interrupted" in converged.stdout, output(converged)
    env.assert_serving(version, release)
    status = env.assert_consistent(release)  # every host on one release, the lock free
    assert status["last_deployment"]["outcome"] == "succeeded"
    deployed.version, deployed.release = version, release
