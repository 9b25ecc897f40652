"""The backup before every migration: taken before the release command, linked to the
deployment, named by a rollback, and restored only when asked (and confirmed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.apprepo import AppRepo
from support.backupenv import backup_repo, backup_secrets, json_of, needs_restic
from support.localenv import served_release
from support.postgres import PgServer, pg_server

pytestmark = pytest.mark.integration

__all__ = ["pg_server"]

DB_ONLY = [{"name": "db", "type": "postgres", "secret": "DATABASE_URL"}]


def _repo(env_dir: Path, pg: PgServer, release_command: str) -> AppRepo:
    needs_restic()
    repo = backup_repo(env_dir, sources=DB_ONLY, checks=[])
    config = repo.config.read_text() + f"release_command: {release_command!r}\n"
    repo.config.write_text(config)
    repo.commit_file("shipyard.yml", config, "release command")
    pg.createdb("app")
    pg.psql(
        "app",
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g",
    )
    return repo


def test_a_failing_migration_took_its_backup_first_and_the_data_restores_from_it(
    pg_server: PgServer, env_dir: Path
) -> None:
    migration = (
        'psql "$DATABASE_URL" -X -v ON_ERROR_STOP=1 '
        '-c "DELETE FROM t WHERE id > 1; ALTER TABLE t ADD COLUMN broken int" && exit 3'
    )
    repo = _repo(env_dir, pg_server, migration)
    secrets = backup_secrets(pg_server)

    failed = repo.shipyard("deploy", "local", env=secrets)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "1"
    record = json_of(repo.shipyard("history", "local", "--json", env=secrets))[0]
    assert record["outcome"] == "failed"
    assert "backup" in record["phases"]
    (taken,) = record["backups"]
    assert (taken["source"], taken["reason"]) == ("db", "pre-migration")
    assert taken["deployment_id"] == record["id"]

    done = repo.shipyard("backup", "restore", "local", taken["snapshot_id"], "--yes", env=secrets)
    assert done.returncode == 0, done.stderr
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"
    column = "SELECT count(*) FROM information_schema.columns WHERE column_name = 'broken'"
    assert pg_server.psql("app", column) == "0"


def test_rollback_names_the_pre_migration_backup_and_restores_it_only_when_asked(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = _repo(env_dir, pg_server, "true")
    secrets = backup_secrets(pg_server)
    assert repo.shipyard("deploy", "local", env=secrets).returncode == 0
    v1 = served_release(repo)[1]
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=secrets).returncode == 0
    pg_server.psql("app", "INSERT INTO t SELECT g, 'new' FROM generate_series(101, 105) g")

    refused = repo.shipyard("rollback", "local", "--restore-data", env=secrets)
    assert refused.returncode == 7, refused.stdout + refused.stderr
    assert "pre-migration backup" in refused.stderr
    assert "public.t 5" in refused.stderr  # what was written since, per table
    assert served_release(repo)[2] == "2.0.0"  # nothing changed

    back = repo.shipyard("rollback", "local", "--restore-data", "--yes", env=secrets)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "restored db from pre-migration snapshot" in back.stdout
    assert served_release(repo)[1] == v1
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"

    # v1's own deployment took one too: a plain rollback names it and restores nothing
    pg_server.psql("app", "INSERT INTO t VALUES (200, 'kept')")
    plain = repo.shipyard("rollback", "local", env=secrets)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "pre-migration backup" in plain.stdout
    assert "NOT restored" in plain.stdout and "--restore-data" in plain.stdout
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "101"


def test_a_first_deploy_before_the_sqlite_file_exists_is_not_stopped_by_its_backup(
    env_dir: Path,
) -> None:
    needs_restic()
    repo = backup_repo(
        env_dir, sources=[{"name": "notes", "type": "sqlite", "path": "notes.db"}], checks=[]
    )
    config = repo.config.read_text() + "release_command: 'true'\n"  # the file comes later
    repo.config.write_text(config)
    repo.commit_file("shipyard.yml", config, "release command")
    secrets = {"TEST_DB_URL": "postgresql://unused@127.0.0.1:1/x", "TEST_RESTIC_PW": "pw"}
    first = repo.shipyard("deploy", "local", env=secrets)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "notes does not exist yet; nothing to back up" in first.stdout + first.stderr
    record = json_of(repo.shipyard("history", "local", "--json", env=secrets))[0]
    assert record["outcome"] == "succeeded" and not record["backups"]
