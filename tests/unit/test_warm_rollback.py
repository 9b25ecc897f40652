"""A warm rollback moves traffic before anything it does not need: against recording fake
hosts (support.fakehost), which operations run before the switch; and the decision
(`plan.rollback.warm_rollback`) as a table."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fakehost import FakeFleet
from support.records import deployment, host_status, release, slot_status

from shipyard.config.loader import ConfigFile
from shipyard.execute import pipeline
from shipyard.execute.reporter import SilentReporter
from shipyard.plan.rollback import warm_rollback
from shipyard.protocol.common import Deployment, SlotRow
from shipyard.protocol.inspect import StatusReply

H1, H2 = "deploy@h1.test", "deploy@h2.test"
NOT_BEFORE_THE_SWITCH = {"history", "repair", "cleanup", "retire", "boot"}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConfigFile:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    repo = tmp_path / "repo"
    repo.mkdir()
    document: dict[str, Any] = {
        "app": "shop",
        "start": "./serve.sh",
        "environments": {"local": {"hosts": ["local"]}, "fleet": {"hosts": [H1, H2]}},
    }
    (repo / "shipyard.yml").write_text(yaml.safe_dump(document))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@x", *args],
            check=True,
            capture_output=True,
        )
    return ConfigFile.load(repo / "shipyard.yml")


def warm_fleet(env: str, hosts: list[str], *, old_status: str = "good") -> FakeFleet:
    """Every host serves `new` from green; blue still runs `old`, warm."""
    fleet = FakeFleet()
    for host in hosts:
        model = fleet.model(env, host)
        model.active_slot, model.active_release = "green", "new"
        model.slots = {
            "green": SlotRow("green", "new", "active", 2.0, None),
            "blue": SlotRow("blue", "old", "warm", 1.0, 9e9),
        }
        model.releases = [release("new"), release("old", status=old_status)]
        model.history = [deployment("new"), deployment("old")]
    return fleet


def rollback(config: ConfigFile, fleet: FakeFleet, env: str, **kwargs: Any) -> Any:
    runtime = pipeline.Runtime(reporter=SilentReporter(), hosts=fleet.factory)
    return asyncio.run(pipeline.rollback(config, env, runtime, **kwargs))


def before_switch(ops: list[str]) -> list[str]:
    return ops[: ops.index("switch")]


def test_a_local_warm_rollback_reads_no_history_and_converges_nothing_before_the_switch(
    config: ConfigFile,
) -> None:
    fleet = warm_fleet("local", ["local"])
    result = rollback(config, fleet, "local")
    assert result.warm and result.release_id == "old"
    ops = fleet.ops("local")
    assert before_switch(ops) == [
        "connect",
        "hello",
        "lock-acquire",
        "status",
        "releases",
        "record-start",
        "check",
    ]
    assert not NOT_BEFORE_THE_SWITCH & set(ops)
    assert ops[-2:] == ["record-update", "lock-release"]
    assert fleet.calls("status")[0].request.probe is False  # no health probes to decide


def test_a_warm_rollback_on_a_fleet_switches_every_host_without_history_or_repair(
    config: ConfigFile,
) -> None:
    fleet = warm_fleet("fleet", [H1, H2])
    rollback(config, fleet, "fleet")
    assert [c.host for c in fleet.calls("switch")] == [H1, H2]
    for host in (H1, H2):
        assert not {"history", "repair", "cleanup"} & set(before_switch(fleet.ops(host)))


def test_a_warm_release_marked_bad_is_not_the_default_target_the_full_path_decides(
    config: ConfigFile,
) -> None:
    fleet = warm_fleet("local", ["local"], old_status="bad")
    model = fleet.model("local", "local")
    model.releases.append(release("older"))
    model.history.append(deployment("older"))
    model.slots["blue"] = SlotRow("blue", "old", "warm", 1.0, 9e9)
    result = rollback(config, fleet, "local")
    assert result.release_id == "older" and not result.warm
    assert "history" in fleet.ops() and "repair" in fleet.ops()  # converge, then decide


def test_a_named_release_that_is_not_warm_takes_the_full_path(config: ConfigFile) -> None:
    fleet = warm_fleet("local", ["local"])
    model = fleet.model("local", "local")
    model.releases.append(release("older"))
    result = rollback(config, fleet, "local", release="older")
    assert result.release_id == "older" and not result.warm
    assert "repair" in before_switch(fleet.ops())


def status(active: str = "new", warm: str | None = "old", **fields: Any) -> StatusReply:
    slots = [slot_status("green", True, active, "active", "RUNNING")]
    if warm:
        slots.append(slot_status("blue", False, warm, "warm", "RUNNING"))
    reply = host_status(*slots)
    return StatusReply(**{**reply.__dict__, **fields})


RUNNING: list[Deployment] = [deployment("new", outcome="running")]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ({"a": status(), "b": status()}, "old"),
        ({"a": status(), "b": status(warm=None)}, None),  # one host has no warm slot
        ({"a": status(), "b": status(warm="other")}, None),  # hosts disagree on the target
        ({"a": status(), "b": status(active="x")}, None),  # a switch cut short
        ({"a": status(running_deployments=RUNNING)}, None),  # an interrupted deploy
        ({"a": status(supervisor="DOWN")}, None),  # converge must restart it
        ({"a": status(nginx="STOPPED")}, None),
        ({"a": status(nginx_target="blue")}, None),  # nginx not on the active slot
        ({"a": status(initialised=False)}, None),
        ({}, None),
    ],
)
def test_the_hosts_status_alone_decides_a_warm_rollback_only_when_nothing_needs_converging(
    statuses: dict[str, StatusReply], expected: str | None
) -> None:
    decided = warm_rollback(statuses, [release("new"), release("old")], None)
    assert (decided.release_id if decided else None) == expected


def test_a_warm_rollback_needs_the_release_on_the_primary_and_a_named_one_to_match() -> None:
    statuses = {"a": status()}
    assert warm_rollback(statuses, [release("new")], None) is None  # removed
    assert warm_rollback(statuses, [release("new"), release("old")], "other") is None
    named = warm_rollback(statuses, [release("old", status="bad")], "old")
    assert named is not None and named.slots == {"a": "blue"}  # named: even a bad one


def test_the_active_slot_being_down_does_not_stop_a_warm_rollback_away_from_it() -> None:
    crashed = host_status(
        slot_status("green", True, "new", "active", "FATAL"),
        slot_status("blue", False, "old", "warm", "RUNNING"),
    )
    decided = warm_rollback({"a": crashed}, [release("old")], None)
    assert decided is not None and decided.release_id == "old"
