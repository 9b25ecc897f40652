"""Rolling deploys (`rollout: {batch: N | "P%"}`) and the paced connection of a fleet.

The batch decisions are pure (plan/rollout.py); the orchestration runs against the
recording FakeFleet: batches switch one after another while the rest serve the old
release, and a failing batch puts every host switched so far back (all or nothing).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apprepo import git
from support.fakehost import FakeFleet, FakeHost
from support.records import deployment
from support.reporting import LineReporter

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment, HostEntry
from shipyard.config.rollout import Rollout
from shipyard.execute import pipeline
from shipyard.execute.hostclient import Host, Redactor
from shipyard.execute.outcomes import DeployFailed
from shipyard.plan.rollout import batches, per_batch
from shipyard.protocol.common import SlotRow, Traffic
from shipyard.protocol.observe import ObserveSampleReply, ProbeJudgement
from shipyard.transport.target import SshOptions

HOSTS = [f"deploy@h{i}.test" for i in range(1, 7)]
H1, H2, H3, H4, H5, H6 = HOSTS


# -- the plan: pure ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch", "fleet", "size"),
    [
        (None, 6, 6),  # no rollout: every host at once
        (2, 6, 2),
        (10, 6, 6),  # more than the fleet: one batch
        ("25%", 6, 2),  # 1.5 rounded up
        ("50%", 6, 3),
        ("1%", 6, 1),  # at least one host
        ("100%", 6, 6),
        ("10%", 50, 5),
        ("25%", 20, 5),
    ],
)
def test_a_batch_holds_a_count_or_a_rounded_up_share_of_the_fleet(
    batch: int | str | None, fleet: int, size: int
) -> None:
    rollout = None if batch is None else Rollout(batch=batch)
    assert per_batch(rollout, fleet) == size


def test_batches_keep_the_configured_order_so_the_primary_switches_first() -> None:
    assert batches(HOSTS[:5], Rollout(batch=2)) == [[H1, H2], [H3, H4], [H5]]
    assert batches(HOSTS, None) == [HOSTS]
    assert batches([], Rollout(batch=2)) == []


@pytest.mark.parametrize("bad", [0, -1, "0%", "101%", "half", True, "2 hosts"])
def test_a_batch_that_is_not_a_count_or_a_percentage_is_refused_naming_the_key(
    tmp_path: Path, bad: object
) -> None:
    text = yaml.safe_dump(
        {
            "app": "shop",
            "start": "./serve.sh",
            "environments": {"staging": {"hosts": [H1], "rollout": {"batch": bad}}},
        }
    )
    with pytest.raises(ConfigError) as refused:
        ConfigFile.parse(text, tmp_path / "shipyard.yml").environment("staging")
    assert "rollout.batch" in str(refused.value)


def test_a_refused_handshake_is_tried_again_after_a_doubling_backoff() -> None:
    assert SshOptions(connect_attempts=4, retry_backoff=0.5).retry_delays() == [0.5, 1.0, 2.0]
    assert SshOptions().retry_delays() == []  # one attempt: never again


# -- the orchestration, against the FakeFleet ----------------------------------------------


def make_config(tmp_path: Path, **staging: Any) -> ConfigFile:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "serve.sh").write_text("#!/bin/sh\nexec true\n")
    document: dict[str, Any] = {
        "app": "shop",
        "start": "./serve.sh",
        "observe": {"window": 0},
        "environments": {"staging": {"hosts": HOSTS, **staging}},
    }
    (repo / "shipyard.yml").write_text(yaml.safe_dump(document))
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    return ConfigFile.load(repo / "shipyard.yml")


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def serving(fleet: FakeFleet, release: str = "old") -> None:
    for host in HOSTS:
        model = fleet.model("staging", host)
        model.active_slot, model.active_release = "blue", release
        model.slots["blue"] = SlotRow("blue", release, "active", 1.0, None)
        model.history = [deployment(release)]


def deploy(config: ConfigFile, fleet: FakeFleet, reporter: LineReporter | None = None) -> Any:
    runtime = pipeline.Runtime(reporter=reporter or LineReporter(), hosts=fleet.factory)
    return asyncio.run(pipeline.deploy(config, "staging", runtime, message="test"))


def releases(fleet: FakeFleet) -> list[str | None]:
    return [fleet.model("staging", h).active_release for h in HOSTS]


def test_batches_switch_one_after_another_while_the_rest_serve_the_old_release(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, rollout={"batch": 2})
    fleet = FakeFleet()
    serving(fleet)
    seen: dict[str, list[str | None]] = {}
    env = config.environment("staging")

    def looking(host: str) -> Any:
        def script(request: Any) -> Any:
            seen[host] = releases(fleet)  # what serves when this host's batch boots
            return FakeHost(fleet, env, HostEntry(address=host))._healthy("boot", request)

        return script

    for host in (H3, H5):
        fleet.answer("staging", host, "boot", looking(host))
    reporter = LineReporter()
    result = deploy(config, fleet, reporter)
    new = result.release_id
    assert seen[H3] == [new, new, "old", "old", "old", "old"]
    assert seen[H5] == [new, new, new, new, "old", "old"]
    assert releases(fleet) == [new] * 6
    # each batch boots, checks, switches and verifies before the next one boots
    order = [(c.op, c.host) for c in fleet.log if c.op in ("boot", "switch", "verify")]
    assert [host for op, host in order if op == "switch"] == HOSTS
    assert order.index(("verify", H2)) < order.index(("boot", H3))
    assert order.index(("verify", H4)) < order.index(("boot", H5))
    assert "rollout: batch 2/3: deploy@h3.test, deploy@h4.test" in reporter.lines
    # the record shows the batches
    finished = fleet.calls("record-update")[-1].request
    assert finished.outcome == "succeeded"
    assert finished.analysis is None or "rollout" not in finished.analysis
    recorded = [c.request.analysis for c in fleet.calls("record-update") if c.request.analysis]
    assert recorded[-1]["rollout"] == {
        "batches": [[H1, H2], [H3, H4], [H5, H6]],
        "switched_batches": 3,
        "failed_batch": None,
    }


def test_a_batch_failing_its_health_check_puts_every_host_switched_so_far_back(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, rollout={"batch": "34%"})  # 3 hosts: two batches
    fleet = FakeFleet()
    serving(fleet)
    fleet.fail("staging", H5, "check", "health: 500 on /healthz")
    with pytest.raises(DeployFailed) as failed:
        deploy(config, fleet)
    assert "health: 500" in "\n".join(failed.value.details())
    assert releases(fleet) == ["old"] * 6
    assert all(fleet.model("staging", h).active_slot == "blue" for h in HOSTS)
    back = [c.host for c in fleet.calls("switch") if c.request.retreat]
    assert back == [H1, H2, H3]  # the first batch, which had switched
    stopped = {c.host for c in fleet.calls("stop-slot")}
    assert stopped == set(HOSTS)  # every slot that was booted, in both batches
    record = fleet.calls("record-update")[-1].request
    assert record.outcome == "failed" and record.finished
    assert record.analysis["rollout"] == {
        "batches": [[H1, H2, H3], [H4, H5, H6]],
        "switched_batches": 1,
        "failed_batch": 2,
    }
    assert [c.request.status for c in fleet.calls("set-release-status")] == ["bad"]


def test_a_batch_failing_its_analysis_rolls_every_switched_host_back_and_fails_the_deploy(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, rollout={"batch": 2}, observe={"window": 0.2, "interval": 0.05})
    fleet = FakeFleet()
    serving(fleet)

    def errors(request: Any) -> ObserveSampleReply:
        return ObserveSampleReply(
            offset=0,
            traffic=Traffic(requests=100, errors=60, fallbacks=0, p50_ms=5.0, p95_ms=9.0),
            probe=ProbeJudgement(ok=True, detail="ok"),
            process="RUNNING",
        )

    fleet.answer("staging", H4, "observe-sample", errors)
    with pytest.raises(DeployFailed) as failed:
        deploy(config, fleet)
    assert failed.value.outcome == "auto-rolled-back"
    assert "rolled back on 4 host(s)" in str(failed.value)
    assert releases(fleet) == ["old"] * 6
    assert not fleet.calls("boot", H5)  # the third batch never started
    sampled = {c.host for c in fleet.calls("observe-sample")}
    assert sampled == {H1, H2, H3, H4}
    record = fleet.calls("record-update")[-1].request
    assert record.outcome == "auto-rolled-back"
    assert record.analysis["rollout"]["failed_batch"] == 2
    assert record.analysis["rollout"]["switched_batches"] == 1


def test_without_rollout_every_host_is_one_batch_and_the_record_is_as_before(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    fleet = FakeFleet()
    serving(fleet)
    deploy(config, fleet)
    order = [c.op for c in fleet.log if c.op in ("boot", "switch")]
    assert order == ["boot"] * 6 + ["switch"] * 6
    assert not any(c.request.analysis for c in fleet.calls("record-update"))


def test_at_most_max_connecting_hosts_are_in_their_handshake_at_once(tmp_path: Path) -> None:
    config = make_config(tmp_path, fleet={"max_connecting": 2})
    fleet = FakeFleet()
    serving(fleet)
    connecting: list[int] = [0]
    most: list[int] = [0]

    class SlowHandshake(FakeHost):
        async def connect(self) -> None:
            connecting[0] += 1
            most[0] = max(most[0], connecting[0])
            await asyncio.sleep(0.01)
            await super().connect()

        async def hello(self, request: Any) -> Any:
            await asyncio.sleep(0.01)  # the agent starting
            connecting[0] -= 1
            return await super().hello(request)

    def factory(env: Environment, entry: HostEntry, redact: Redactor) -> Host:
        return SlowHandshake(fleet, env, entry)

    runtime = pipeline.Runtime(reporter=LineReporter(), hosts=factory)
    asyncio.run(pipeline.deploy(config, "staging", runtime, message="test"))
    assert most[0] == 2
    assert len(fleet.calls("hello")) == 6
