"""A deploy's tls step tells the renewal-failure listeners (where the CLI hangs the TLS
alert) before it reports the failure as the deploy's `tls` phase."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shipyard.config.model import Environment
from shipyard.errors import ShipyardError
from shipyard.execute import tls
from shipyard.execute.session import PhaseFailed


def test_a_failed_tls_step_in_a_deploy_tells_each_listener_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard: list[tuple[object, str]] = []

    def listener(env: Environment, error: ShipyardError) -> None:
        heard.append((env, error.message))

    async def failing(*_: Any) -> None:
        raise ShipyardError("validation failed for bad.example.com")

    env = object()
    session = SimpleNamespace(env=env, hosts=[SimpleNamespace(label="web1")])
    monkeypatch.setattr(tls, "ensure", failing)
    monkeypatch.setattr(tls, "RENEWAL_FAILURE_LISTENERS", [listener])
    with pytest.raises(PhaseFailed) as failed:
        asyncio.run(tls.deploy_step(session, {}, Path()))  # type: ignore[arg-type]
    assert failed.value.phase == "tls"
    assert heard == [(env, "validation failed for bad.example.com")]
