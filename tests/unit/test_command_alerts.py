"""Whether a deploy command sends its own deploy alerts (alerts.from_commands)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.events import command_alerts


def config(tmp_path: Path, alerts: str) -> ShipyardConfig:
    path = tmp_path / "shipyard.yml"
    path.write_text(
        "app: shop\nstart: x\n"
        f"alerts: {alerts}\n"
        "serve: {secrets: {HOOK: {from_env: SHIPYARD_TEST_HOOK}}}\n"
        "environments: {prod: {hosts: [local]}}\n"
    )
    return ShipyardConfig.load(path)


@pytest.fixture(autouse=True)
def hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TEST_HOOK", "json://127.0.0.1:9/hook")


def test_a_command_sends_nothing_without_channels_or_when_told_never(tmp_path: Path) -> None:
    assert command_alerts(config(tmp_path, "{channels: []}")) == []
    assert command_alerts(config(tmp_path, "{channels: [HOOK], from_commands: never}")) == []


def test_always_sends_even_if_serve_might_be_running(tmp_path: Path) -> None:
    (observer,) = command_alerts(config(tmp_path, "{channels: [HOOK], from_commands: always}"))
    assert [c.name for c in observer.channels] == ["HOOK"]
    observer.close()
