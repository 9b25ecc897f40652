"""Backups of a local environment against real PostgreSQL, SQLite, directories and restic."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from support.backupenv import (
    RESTIC_PASSWORD,
    backup_repo,
    backup_secrets,
    json_of,
    needs_restic,
    note_count,
    seed,
    shared,
    uploads,
)
from support.postgres import PASSWORD, PgServer, pg_server

pytestmark = pytest.mark.integration

__all__ = ["pg_server"]


@pytest.fixture(autouse=True)
def _restic() -> None:
    needs_restic()


def test_postgres_sqlite_and_directory_sources_restore_to_what_was_backed_up(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(env_dir)
    secrets = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=secrets)  # the environment's tree exists
    seed(pg_server, env_dir)

    taken = json_of(repo.shipyard("backup", "run", "local", "--json", env=secrets))
    assert [b["source"] for b in taken] == ["db", "notes", "uploads"]
    db = taken[0]
    assert set(db["checksums"]) == {"db.pgdump", "globals.sql"}
    assert all(len(digest) == 64 for digest in db["checksums"].values())
    assert db["size_bytes"] > 0 and db["duration"] > 0 and db["reason"] == "manual"
    listed = repo.shipyard("backup", "list", "local", env=secrets)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("never verified") == 3

    pg_server.psql("app", "DELETE FROM t WHERE id > 10")
    sqlite = sqlite3.connect(shared(env_dir) / "data" / "notes.db")
    with sqlite:
        sqlite.execute("INSERT INTO notes (body) VALUES ('later')")
    sqlite.close()
    (shared(env_dir) / "uploads" / "file0.txt").unlink()
    (shared(env_dir) / "uploads" / "new.txt").write_text("after the backup\n")

    refused = repo.shipyard("backup", "restore", "local", db["snapshot_id"], env=secrets)
    assert refused.returncode == 7, refused.stderr
    assert "needs a confirmation" in refused.stderr
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "10"

    for record in taken:
        done = repo.shipyard(
            "backup", "restore", "local", record["snapshot_id"], "--yes", env=secrets
        )
        assert done.returncode == 0, done.stderr + done.stdout
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"
    assert note_count(env_dir) == 5
    assert uploads(env_dir) == ["file0.txt", "file1.txt", "file2.txt"]
    for secret in secrets.values():
        assert secret not in listed.stdout + listed.stderr


def test_verify_restores_into_scratch_and_records_it_and_a_corrupted_repository_fails_it(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(env_dir)
    secrets = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=secrets)
    seed(pg_server, env_dir)
    assert repo.shipyard("backup", "run", "local", env=secrets).returncode == 0

    verified = json_of(repo.shipyard("backup", "verify", "local", "--json", env=secrets))
    assert [(r["source"], r["ok"]) for r in verified] == [
        ("db", True),
        ("notes", True),
        ("uploads", True),
    ]
    assert "SELECT count(*) FROM t" in verified[0]["detail"]
    # the scratch database is gone again
    assert (
        pg_server.psql(
            "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'shipyard_verify%'"
        )
        == "0"
    )
    listed = json_of(repo.shipyard("backup", "list", "local", "--json", env=secrets))
    assert all(b["verify_ok"] is True and b["verify_seconds"] > 0 for b in listed)

    packs = env_dir / "hosts" / "reconcile" / "local" / "backups" / "restic" / "data"
    for pack in packs.rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0xFF
            pack.chmod(0o600)
            pack.write_bytes(bytes(data))
    broken = repo.shipyard("backup", "verify", "local", env=secrets)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "FAILED" in broken.stdout
    listed = json_of(repo.shipyard("backup", "list", "local", "--json", env=secrets))
    assert all(b["verify_ok"] is False for b in listed)


def test_restore_of_a_chosen_snapshot_brings_back_that_snapshot_not_the_newest(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(
        env_dir, sources=[{"name": "db", "type": "postgres", "secret": "DATABASE_URL"}], checks=[]
    )
    secrets = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=secrets)
    seed(pg_server, env_dir)
    first = json_of(repo.shipyard("backup", "run", "local", "--json", env=secrets))[0]
    pg_server.psql("app", "DELETE FROM t WHERE id > 50")
    second = json_of(repo.shipyard("backup", "run", "local", "--json", env=secrets))[0]
    assert first["snapshot_id"] != second["snapshot_id"]
    pg_server.psql("app", "DELETE FROM t")

    done = repo.shipyard(
        "backup", "restore", "local", first["snapshot_id"], "--source", "db", "--yes", env=secrets
    )
    assert done.returncode == 0, done.stderr
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"
    done = repo.shipyard("backup", "restore", "local", second["snapshot_id"], "--yes", env=secrets)
    assert done.returncode == 0, done.stderr
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "50"


def test_prune_keeps_exactly_the_newest_snapshots_the_retention_names(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(
        env_dir,
        sources=[{"name": "uploads", "type": "directory", "path": "uploads"}],
        checks=[],
        retention={"keep_last": 2, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
    )
    secrets = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=secrets)
    (shared(env_dir) / "uploads").mkdir(parents=True)
    ids = []
    for i in range(4):
        (shared(env_dir) / "uploads" / f"f{i}").write_text(str(i))
        ids.append(json_of(repo.shipyard("backup", "run", "local", "--json", env=secrets))[0])
    pruned = json_of(repo.shipyard("backup", "prune", "local", "--json", env=secrets))
    newest = [b["snapshot_id"] for b in ids[2:]]
    assert sorted(pruned["kept"]) == sorted(newest)
    assert sorted(pruned["removed"]) == sorted(b["snapshot_id"] for b in ids[:2])
    listed = json_of(repo.shipyard("backup", "list", "local", "--json", env=secrets))
    assert sorted(b["snapshot_id"] for b in listed) == sorted(newest)


def test_status_warns_and_check_fails_when_a_source_has_no_backup_within_max_age(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(
        env_dir,
        sources=[{"name": "uploads", "type": "directory", "path": "uploads"}],
        checks=[],
        max_age=3600,
    )
    secrets = backup_secrets(pg_server)
    status = repo.shipyard("status", "local", "--check", env=secrets)
    assert status.returncode == 1, status.stderr
    assert "BACKUP OVERDUE: uploads has never been backed up" in status.stdout

    (shared(env_dir) / "uploads").mkdir(parents=True)
    run = repo.shipyard("backup", "run", "local", env=secrets)
    assert run.returncode == 0, run.stderr
    fresh = repo.shipyard("status", "local", "--check", env=secrets)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "backup uploads: last backup" in fresh.stdout and "OVERDUE" not in fresh.stdout

    state = env_dir / "hosts" / "reconcile" / "local" / "state.db"
    db = sqlite3.connect(state)
    with db:
        db.execute("UPDATE backups SET started_at = started_at - 7200")
    db.close()
    stale = repo.shipyard("status", "local", "--check", env=secrets)
    assert stale.returncode == 1
    assert "BACKUP OVERDUE: uploads has no backup within backup.max_age" in stale.stdout
    as_json = json_of(repo.shipyard("status", "local", "--json", env=secrets))
    assert as_json["backups_stale"] is True
    assert as_json["backups"][0]["stale"] is True


def test_no_password_or_url_is_ever_in_the_arguments_of_restic_or_the_postgres_tools(
    pg_server: PgServer, env_dir: Path, tmp_path: Path
) -> None:
    """Shims in PATH record every argv of the real tools, then run them."""
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "argv.log"
    for tool in ("restic", "pg_dump", "pg_dumpall", "pg_restore", "psql", "createdb", "dropdb"):
        real = shutil.which(tool)
        assert real, tool
        shim = shims / tool
        shim.write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexec {real} "$@"\n')
        shim.chmod(0o755)
    repo = backup_repo(env_dir)
    secrets = backup_secrets(pg_server)
    env = {**secrets, "PATH": f"{shims}:{os.environ['PATH']}"}
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    taken = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    assert repo.shipyard("backup", "verify", "local", env=env).returncode == 0
    done = repo.shipyard("backup", "restore", "local", taken[0]["snapshot_id"], "--yes", env=env)
    assert done.returncode == 0, done.stderr
    calls = log.read_text()
    for tool in ("restic backup", "restic dump", "pg_dump -Fc", "pg_restore", "createdb"):
        assert tool in calls
    assert RESTIC_PASSWORD not in calls
    assert PASSWORD not in calls and "postgresql://" not in calls
