"""`backup.local_copy` against real PostgreSQL and restic: a restore of the newest
snapshot reads the dump kept on the host; a copy that is not the snapshot's is never used."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support.apprepo import free_port, make_repo
from support.backupenv import (
    backup_config,
    backup_repo,
    backup_secrets,
    json_of,
    needs_restic,
    seed,
)
from support.postgres import PgServer, pg_server

pytestmark = pytest.mark.integration

__all__ = ["pg_server"]

DB_ONLY = {
    "sources": [{"name": "db", "type": "postgres", "secret": "DATABASE_URL"}],
    "checks": [{"source": "db", "sql": "SELECT count(*) FROM t", "expect": "100"}],
}


@pytest.fixture(autouse=True)
def _restic() -> None:
    needs_restic()


def _restic_shim(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with a restic that records each call's subcommand, then runs the real one."""
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "restic.log"
    real = shutil.which("restic")
    assert real
    shim = shims / "restic"
    shim.write_text(f'#!/bin/sh\necho "restic $1" >> {log}\nexec {real} "$@"\n')
    shim.chmod(0o755)
    return {"PATH": f"{shims}:{os.environ['PATH']}"}, log


def _local_copy(env_dir: Path) -> Path:
    return env_dir / "hosts" / "reconcile" / "local" / "backups" / "local" / "db" / "db.pgdump"


def test_a_restore_of_the_newest_backup_reads_the_local_copy_not_restic(
    pg_server: PgServer, env_dir: Path, tmp_path: Path
) -> None:
    repo = backup_repo(env_dir, local_copy=True, **DB_ONLY)
    path, log = _restic_shim(tmp_path)
    env = backup_secrets(pg_server) | path
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    (taken,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    copy = _local_copy(env_dir)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert copy.parent.stat().st_mode & 0o777 == 0o700

    pg_server.psql("app", "DELETE FROM t WHERE id > 10")
    log.write_text("")
    done = repo.shipyard("backup", "restore", "local", taken["snapshot_id"], "--yes", env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "read from local copy" in done.stdout
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"
    assert "restic dump" not in log.read_text()
    assert "restic snapshots" in log.read_text()  # the tag is still the repository's

    log.write_text("")
    verified = json_of(repo.shipyard("backup", "verify", "local", "--json", env=env))
    assert [(r["source"], r["ok"]) for r in verified] == [("db", True)]
    assert "restic restore" in log.read_text()  # verify reads the repository, always


def test_a_corrupt_local_copy_is_not_used_the_restore_streams_from_restic(
    pg_server: PgServer, env_dir: Path, tmp_path: Path
) -> None:
    repo = backup_repo(env_dir, local_copy=True, **DB_ONLY)
    path, log = _restic_shim(tmp_path)
    env = backup_secrets(pg_server) | path
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    (taken,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    copy = _local_copy(env_dir)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))

    pg_server.psql("app", "DELETE FROM t")
    log.write_text("")
    done = repo.shipyard("backup", "restore", "local", taken["snapshot_id"], "--yes", env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "read from restic (the local copy's sha256 is not the snapshot's" in done.stdout
    assert "restic dump" in log.read_text()
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"


def test_an_older_snapshot_is_restored_from_restic_not_from_the_newer_local_copy(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(env_dir, local_copy=True, **DB_ONLY)
    env = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    (first,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    pg_server.psql("app", "DELETE FROM t WHERE id > 50")
    assert repo.shipyard("backup", "run", "local", env=env).returncode == 0

    done = repo.shipyard("backup", "restore", "local", first["snapshot_id"], "--yes", env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "read from restic" in done.stdout
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"


def test_without_local_copy_a_backup_keeps_no_dump_and_removes_an_earlier_copy(
    pg_server: PgServer, env_dir: Path
) -> None:
    config = backup_config(env_dir / "hosts", free_port(), local_copy=True, **DB_ONLY)
    repo = make_repo(env_dir / "repo", config)
    env = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    assert repo.shipyard("backup", "run", "local", env=env).returncode == 0
    assert _local_copy(env_dir).is_file()

    config["backup"]["local_copy"] = False
    repo.write_config(config)
    (taken,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    assert not _local_copy(env_dir).parent.exists()
    done = repo.shipyard("backup", "restore", "local", taken["snapshot_id"], "--yes", env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.strip().endswith("read from restic")
