"""The benchmarks change environments only through Shipyard's pipeline, so they cannot
skip a gate: their one entry point runs the configured quality gates first."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from types import ModuleType

import pytest
from support.fakehost import FakeFleet

from shipyard.gates import GatesFailed

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def benchlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.setenv("SHIPYARD_BENCH_REF", "worktree")  # measure this tree: no re-exec
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("benchlib")


class Silent:
    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


def repo_with(tmp_path: Path, benchlib: ModuleType, gates: dict[str, object]) -> Path:
    config = benchlib.base_config(tmp_path / "hosts", 18999)
    config["gates"] = gates
    return Path(benchlib.make_repo(tmp_path / "repo", config))


def test_the_benchmarks_entry_point_runs_the_quality_gates_before_any_host(
    benchlib: ModuleType, tmp_path: Path
) -> None:
    failing = dict(benchlib.NO_GATES) | {"commands": [{"name": "tests", "run": "exit 3"}]}
    config_path = repo_with(tmp_path, benchlib, failing)
    fleet = FakeFleet()
    with pytest.raises(GatesFailed):
        asyncio.run(benchlib.deploy(config_path, "bench", Silent(), hosts=fleet.factory))
    assert fleet.log == []


def test_the_benchmarks_entry_point_deploys_through_every_phase_when_the_gates_pass(
    benchlib: ModuleType, tmp_path: Path
) -> None:
    passing = dict(benchlib.NO_GATES) | {"commands": [{"name": "tests", "run": "true"}]}
    config_path = repo_with(tmp_path, benchlib, passing)
    fleet = FakeFleet()
    result = asyncio.run(benchlib.deploy(config_path, "bench", Silent(), hosts=fleet.factory))
    assert result.release_id and {"prepare", "boot", "check", "switch", "verify"} <= set(
        fleet.ops()
    )
    # the gate report the release ships with says the configured gate ran and passed
    report = fleet.calls("prepare")[0].request.manifest.gates
    assert [(g["name"], g["status"]) for g in report["gates"]] == [("tests", "pass")]
