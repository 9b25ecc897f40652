"""The orchestrator's paths, against recording fake hosts: which operations run, in what
order, what is undone when a host fails at each phase, and that the lock is always let go.

What the hosts themselves do is tested against real nginx, supervisord and sshd in
tests/integration and tests/faults; here the hosts are `support.fakehost.FakeFleet`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apprepo import git
from support.fakehost import FakeFleet
from support.records import deployment
from support.reporting import LineReporter

from shipyard import __version__
from shipyard.config.loader import ConfigFile
from shipyard.errors import ExitCode
from shipyard.execute import pipeline
from shipyard.execute.outcomes import DeployFailed, RollbackFailed
from shipyard.execute.promotion import PromotionRefused
from shipyard.execute.session import PhaseFailed
from shipyard.gates import GatesFailed
from shipyard.protocol.common import SlotRow

H1, H2 = "deploy@h1.test", "deploy@h2.test"
PHASES = ["prepare", "boot", "check", "switch", "verify"]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigFile:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "serve.sh").write_text("#!/bin/sh\nexec true\n")
    document: dict[str, Any] = {
        "app": "shop",
        "start": "./serve.sh",
        "observe": {"window": 0},
        "environments": {
            "staging": {"hosts": [H1, H2]},
            "production": {"hosts": [H1], "promotion": {"requires": "staging"}},
        },
    }
    (repo / "shipyard.yml").write_text(yaml.safe_dump(document))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    return ConfigFile.load(repo / "shipyard.yml")


def runtime(fleet: FakeFleet) -> pipeline.Runtime:
    return pipeline.Runtime(reporter=LineReporter(), hosts=fleet.factory)


def serving(fleet: FakeFleet, env: str = "staging", release: str = "old") -> None:
    """Every host of `env` serves `release` from blue, green idle."""
    for host in (H1, H2):
        model = fleet.model(env, host)
        model.active_slot, model.active_release = "blue", release
        model.slots["blue"] = SlotRow("blue", release, "active", 1.0, None)
        model.history = [deployment(release)]


def deploy(config: ConfigFile, fleet: FakeFleet, env: str = "staging") -> Any:
    return asyncio.run(pipeline.deploy(config, env, runtime(fleet), message="test"))


def test_a_deploy_runs_every_phase_on_every_host_in_order_and_lets_the_lock_go(
    config: ConfigFile,
) -> None:
    fleet = FakeFleet()
    serving(fleet)
    result = deploy(config, fleet)
    assert result.previous_release == "old"
    primary = fleet.ops(H1)
    order = ["lock-acquire", "record-start", "repair", "prepare", "boot", "check", "switch"]
    order += ["verify", "set-release-status", "cleanup", "record-update", "lock-release"]
    assert [op for op in primary if op in order] == [
        "lock-acquire",
        "record-start",
        "repair",
        "prepare",
        "record-update",
        "boot",
        "check",
        "record-update",
        "switch",
        "verify",
        "set-release-status",
        "cleanup",
        "record-update",
        "lock-release",
    ]
    # the lock, the record and the release status live on the primary only
    second = fleet.ops(H2)
    assert "lock-acquire" not in second and "record-start" not in second
    assert {"upload", "prepare", "boot", "check", "switch", "verify"} <= set(second)
    finished = fleet.calls("record-update")[-1].request
    assert finished.outcome == "succeeded" and finished.finished
    assert fleet.calls("set-release-status")[0].request.status == "good"


@pytest.mark.parametrize("phase", PHASES)
def test_a_host_failing_at_a_phase_leaves_every_host_on_the_old_release(
    config: ConfigFile, phase: str
) -> None:
    fleet = FakeFleet()
    serving(fleet)
    fleet.fail("staging", H2, phase, f"{phase} broke")
    with pytest.raises(DeployFailed) as failed:
        deploy(config, fleet)
    assert failed.value.exit_code == ExitCode.FAILED
    assert f"{phase} broke" in "\n".join(failed.value.details())
    for host in (H1, H2):
        assert fleet.model("staging", host).active_slot == "blue", (phase, host)
        assert fleet.model("staging", host).active_release == "old", (phase, host)
    booted = {c.host for c in fleet.calls("boot")} if phase != "prepare" else set()
    stopped = {c.host for c in fleet.calls("stop-slot")}
    assert stopped == booted - ({H2} if phase == "boot" else set())
    record = fleet.calls("record-update")[-1].request
    assert record.outcome == "failed" and record.finished and f"{phase} broke" in record.error
    statuses = [c.request.status for c in fleet.calls("set-release-status")]
    assert statuses == ([] if phase == "prepare" else ["bad"])  # prepare is not its fault
    assert fleet.ops(H1)[-1] == "lock-release"


def test_undoing_a_switch_puts_traffic_back_before_it_stops_the_new_slots(
    config: ConfigFile,
) -> None:
    fleet = FakeFleet()
    serving(fleet)
    fleet.fail("staging", H1, "verify")
    with pytest.raises(DeployFailed):
        deploy(config, fleet)
    undo = [c.op for c in fleet.log if c.op in ("switch", "stop-slot")]
    assert undo == ["switch", "switch", "switch", "switch", "stop-slot", "stop-slot"]
    back = fleet.calls("switch")[2:]
    assert all(c.request.retreat and c.request.slot == "blue" for c in back)


def test_a_host_whose_switch_reply_was_lost_is_asked_to_switch_back(config: ConfigFile) -> None:
    fleet = FakeFleet()
    serving(fleet)
    fleet.lose_reply("staging", H2, "switch")
    with pytest.raises(DeployFailed):
        deploy(config, fleet)
    # it did switch on the host, and it was put back without knowing it had
    assert fleet.model("staging", H2).active_slot == "blue"
    asked = [c.request for c in fleet.calls("switch", H2)]
    assert asked[-1].slot == "blue" and asked[-1].release_id is None and asked[-1].retreat


def test_the_lock_is_released_when_recording_the_start_fails(config: ConfigFile) -> None:
    fleet = FakeFleet()
    serving(fleet)
    fleet.fail("staging", H1, "record-start", "disk full")
    with pytest.raises(Exception, match="disk full"):
        deploy(config, fleet)
    assert fleet.ops(H1)[-1] == "lock-release"
    assert "prepare" not in fleet.ops()


def test_an_unreachable_host_stops_the_deploy_before_the_lock_with_exit_code_4(
    config: ConfigFile,
) -> None:
    fleet = FakeFleet()
    serving(fleet)
    fleet.unreachable.add(("staging", H2))
    with pytest.raises(PhaseFailed) as failed:
        deploy(config, fleet)
    assert failed.value.exit_code == ExitCode.UNREACHABLE
    assert "lock-acquire" not in fleet.ops()


def test_a_host_running_another_version_is_refused_saying_both_versions(
    config: ConfigFile,
) -> None:
    fleet = FakeFleet()
    serving(fleet)
    fleet.model("staging", H2).version = "0.0.9"
    with pytest.raises(PhaseFailed) as failed:
        deploy(config, fleet)
    text = "\n".join(failed.value.details())
    assert "0.0.9" in text and __version__ in text and "shipyard setup staging" in text
    assert failed.value.exit_code == ExitCode.UNREACHABLE
    assert "lock-acquire" not in fleet.ops()


def test_a_failing_gate_stops_everything_before_any_host_is_touched(config: ConfigFile) -> None:
    data = yaml.safe_load(config.path.read_text())
    data["gates"] = {"commands": [{"name": "tests", "run": "exit 1"}]}
    config.path.write_text(yaml.safe_dump(data))
    git(config.path.parent, "commit", "-qam", "a failing gate")
    fleet = FakeFleet()
    serving(fleet)
    with pytest.raises(GatesFailed) as failed:
        deploy(ConfigFile.load(config.path), fleet)
    assert failed.value.exit_code == ExitCode.GATES
    assert fleet.log == []


def test_production_refuses_a_release_that_did_not_pass_staging_before_touching_it(
    config: ConfigFile,
) -> None:
    fleet = FakeFleet()
    serving(fleet)
    serving(fleet, "production")
    with pytest.raises(PromotionRefused) as refused:
        deploy(config, fleet, "production")
    assert refused.value.exit_code == ExitCode.REFUSED
    assert fleet.ops(env="production") == []  # only staging's history was read


def test_a_hotfix_skips_the_promotion_path_and_is_recorded_as_one(config: ConfigFile) -> None:
    fleet = FakeFleet()
    serving(fleet, "production")
    result = asyncio.run(
        pipeline.hotfix(config, "production", runtime(fleet), ref="HEAD", reason="payments down")
    )
    assert result.previous_release == "old"
    assert fleet.ops(env="staging") == []
    start = fleet.calls("record-start")[0].request.deployment
    assert (start.kind, start.trigger, start.message) == ("hotfix", "hotfix", "payments down")


def test_a_warm_rollback_is_one_switch_and_a_failed_one_says_it_is_a_rollback(
    config: ConfigFile,
) -> None:
    fleet = FakeFleet()
    for host in (H1, H2):
        model = fleet.model("staging", host)
        model.active_slot, model.active_release = "green", "new"
        model.slots = {
            "green": SlotRow("green", "new", "active", 2.0, None),
            "blue": SlotRow("blue", "old", "warm", 1.0, 9e9),
        }
        model.releases = [_release("new"), _release("old")]
        model.history = [deployment("new"), deployment("old")]
    result = asyncio.run(pipeline.rollback(config, "staging", runtime(fleet)))
    assert result.warm and result.release_id == "old"
    assert "boot" not in fleet.ops()
    assert [c.request.slot for c in fleet.calls("switch")] == ["blue", "blue"]
    fleet.fail("staging", H1, "verify")
    with pytest.raises(RollbackFailed) as failed:
        asyncio.run(pipeline.rollback(config, "staging", runtime(fleet), release="new"))
    assert "rollback" in str(failed.value) and fleet.ops(H1)[-1] == "lock-release"


def _release(release_id: str) -> Any:
    from support.records import release

    return release(release_id)
