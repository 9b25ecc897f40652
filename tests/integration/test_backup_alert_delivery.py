"""Backup alerts from a real local environment (real restic, the host agent): a failed
`backup run` sends BACKUP FAILED to a real webhook receiver, and serve's backup watch
sends BACKUP MISSING once for a source that never ran, quiet after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apprepo import AppRepo
from support.backupenv import RESTIC_PASSWORD, backup_repo, needs_restic
from support.webhook import Receiver, webhook_receiver

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.alerts import Alert, Alerter, AlertKind
from shipyard.serve.backup_watch import BackupWatch
from shipyard.serve.context import ServeContext
from shipyard.serve.live import LiveDeploys
from shipyard.serve.store import Store

pytestmark = pytest.mark.integration

NOTES: dict[str, Any] = {"name": "notes", "type": "sqlite", "path": "data/notes.db"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def repo(env_dir: Path) -> AppRepo:
    needs_restic()
    repo = backup_repo(env_dir, sources=[NOTES], checks=[])
    data = yaml.safe_load(repo.config.read_text())
    data["alerts"] = {"channels": ["HOOK"]}
    data["serve"] = {"secrets": {"HOOK": {"from_env": "SHIPYARD_TEST_HOOK"}}}
    repo.write_config(data)
    return repo


def secrets(receiver: Receiver) -> dict[str, str]:
    return {
        "TEST_DB_URL": "postgresql://unused@127.0.0.1:1/none",
        "TEST_RESTIC_PW": RESTIC_PASSWORD,
        "SHIPYARD_TEST_HOOK": receiver.json_url(),
    }


def test_a_failed_backup_run_sends_one_backup_failed_alert(
    repo: AppRepo, receiver: Receiver
) -> None:
    receiver.posts.clear()
    repo.shipyard("status", "local", env=secrets(receiver))
    failed = repo.shipyard("backup", "run", "local", env=secrets(receiver))  # no notes.db
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr
    posts = receiver.wait_for(1, timeout=5)
    assert len(posts) == 1, failed.stderr
    assert posts[0].fields["title"] == "[BACKUP FAILED] local: backup failed"
    assert "shipyard backup run local" in posts[0].fields["message"]


def test_an_unknown_environment_or_source_is_an_error_to_the_user_and_no_alert(
    repo: AppRepo, receiver: Receiver
) -> None:
    receiver.posts.clear()
    unknown = repo.shipyard("backup", "run", "nosuch", env=secrets(receiver))
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    source = repo.shipyard("backup", "run", "local", "--source", "x", env=secrets(receiver))
    assert source.returncode == 2, source.stdout + source.stderr
    assert receiver.wait_for(1, timeout=1) == []


def test_the_backup_watch_alerts_a_source_that_never_ran_once_and_not_after_a_restart(
    repo: AppRepo, receiver: Receiver, tmp_path: Path
) -> None:
    repo.shipyard("status", "local", env=secrets(receiver))
    store = Store.open(tmp_path / "serve.db")
    ctx = ServeContext(
        config=ShipyardConfig.load(repo.config),
        config_path=repo.config,
        store=store,
        base_url="http://127.0.0.1:8400",
        live=LiveDeploys(),
    )
    sent: list[Alert] = []
    watch = BackupWatch(ctx, sent.append)
    first = asyncio.run(watch.check("local"))
    assert [(a.kind, a.what) for a in first] == [
        (AlertKind.BACKUP_MISSING, "backup source notes has never been backed up")
    ]
    assert asyncio.run(watch.check("local")) == []  # once per incident
    Alerter([], store).send_blocking(first[0])  # what serve records when it sends
    assert asyncio.run(BackupWatch(ctx, sent.append).check("local")) == []
    assert len(sent) == 1
