"""Backups to S3-compatible storage: restic against moto's S3 server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.apprepo import free_port, local_config, make_repo
from support.backupenv import RESTIC_PASSWORD, json_of, moto_server, needs_restic, shared

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_url() -> Iterator[str]:
    needs_restic()
    yield from moto_server()


def test_a_directory_backs_up_to_s3_verifies_and_restores_from_it(
    s3_url: str, env_dir: Path
) -> None:
    config = local_config(
        env_dir / "hosts",
        free_port(),
        secrets={
            "RESTIC_PASSWORD": {"from_env": "TEST_RESTIC_PW"},
            "S3_KEY": {"from_env": "TEST_S3_KEY"},
            "S3_SECRET": {"from_env": "TEST_S3_SECRET"},
        },
        backup={
            "repository": f"s3:{s3_url}/shipyard-backups/reconcile",
            "s3": {
                "access_key_id_secret": "S3_KEY",
                "secret_access_key_secret": "S3_SECRET",
                "region": "us-east-1",
            },
            "password_secret": "RESTIC_PASSWORD",
            "sources": [{"name": "uploads", "type": "directory", "path": "uploads"}],
            "checks": [{"source": "uploads", "min_files": 2}],
        },
    )
    repo = make_repo(env_dir / "repo", config)
    secrets = {
        "TEST_RESTIC_PW": RESTIC_PASSWORD,
        "TEST_S3_KEY": "testing-key",
        "TEST_S3_SECRET": "testing-secret-value-9",
    }
    repo.shipyard("status", "local", env=secrets)
    files = shared(env_dir) / "uploads"
    files.mkdir(parents=True)
    (files / "a.txt").write_text("a\n")
    (files / "b.txt").write_text("b\n")

    (taken,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=secrets))
    # the repository is in the bucket, not on the host
    assert not (env_dir / "hosts" / "reconcile" / "local" / "backups" / "restic").exists()
    listing = httpx.get(f"{s3_url}/shipyard-backups?list-type=2", timeout=5).text
    assert "reconcile/config" in listing and "reconcile/snapshots/" in listing

    verified = json_of(repo.shipyard("backup", "verify", "local", "--json", env=secrets))
    assert [(r["snapshot_id"], r["ok"]) for r in verified] == [(taken["snapshot_id"], True)]

    (files / "a.txt").unlink()
    done = repo.shipyard("backup", "restore", "local", taken["snapshot_id"], "--yes", env=secrets)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in files.iterdir()) == ["a.txt", "b.txt"]
