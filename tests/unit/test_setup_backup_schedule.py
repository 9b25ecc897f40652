"""`shipyard setup`'s backup-schedule step, decided before and around the host: the
secrets it needs are read before anything changes, and `--check` on a host without the
deploy user or its Shipyard yet says the timers would be installed without asking it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shipyard.config.errors import ConfigError
from shipyard.config.loader import ConfigFile
from shipyard.execute import setup, setup_schedule
from shipyard.execute.backup import Plan
from shipyard.execute.reporter import SilentReporter

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ0ZXN0a2V5dGVzdGtleXRlc3RrZXl0ZXN0a2V5 team"
CONFIG = f"""
app: shop
start: gunicorn app:app
nginx: {{mode: system, include_dir: /etc/nginx/shipyard.d, binary: shipyard-nginx}}
setup: {{authorized_keys: ["{KEY}"]}}
secrets: {{RESTIC_PASSWORD: {{from_env: TEST_SETUP_SCHEDULE_PW}}}}
environments:
  production:
    hosts: [deploy@192.0.2.1]
    backup:
      password_secret: RESTIC_PASSWORD
      sources: [{{name: uploads, type: directory, path: uploads}}]
"""


def load(tmp_path: Path) -> ConfigFile:
    path = tmp_path / "shipyard.yml"
    path.write_text(CONFIG)
    return ConfigFile.load(path)


def test_a_missing_secret_of_the_backup_timers_refuses_setup_before_any_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_SETUP_SCHEDULE_PW", raising=False)
    config = load(tmp_path)
    env = config.environment("production")

    async def no_probe(*args: object) -> None:
        raise AssertionError("a host was probed")

    monkeypatch.setattr(setup, "_probe_all", no_probe)
    with pytest.raises(ConfigError, match="TEST_SETUP_SCHEDULE_PW"):
        asyncio.run(
            setup.setup_hosts(
                env, env.hosts, check=False, reporter=SilentReporter(), config_file=config.path
            )
        )


def test_check_on_a_host_still_without_its_shipyard_says_the_timers_would_be_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SETUP_SCHEDULE_PW", "pw")
    config = load(tmp_path)
    p = Plan.load(config, "production")

    def no_session(*args: object) -> None:
        raise AssertionError("the host was asked")

    monkeypatch.setattr(Plan, "session", no_session)
    steps = {"deploy-user": "unchanged", "shipyard": "would-change"}
    result = asyncio.run(
        setup_schedule.install(p, True, SilentReporter(), "deploy@192.0.2.1", steps)
    )
    assert result.status == "would-change" and result.changes
