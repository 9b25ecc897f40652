"""`backup.local_copy` against real PostgreSQL and restic: a restore of the newest
snapshot reads the dump kept on the host; a copy that is not the snapshot's is never used,
and pg_restore never commits bytes of it that were not checked."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
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


def _restic_shim(tmp_path: Path, failing: str = "") -> tuple[dict[str, str], Path]:
    """PATH with a restic that records each call's subcommand, then runs the real one
    (or fails at once, for the subcommand `failing`)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "restic.log"
    real = shutil.which("restic")
    assert real
    shim = shims / "restic"
    fail = f'[ "$1" = "{failing}" ] && {{ echo "Fatal: {failing} refused" >&2; exit 1; }}\n'
    shim.write_text(
        f'#!/bin/sh\necho "restic $1" >> {log}\n{fail if failing else ""}exec {real} "$@"\n'
    )
    shim.chmod(0o755)
    return {"PATH": f"{shims}:{os.environ['PATH']}"}, log


def _local_copy(env_dir: Path) -> Path:
    return env_dir / "hosts" / "reconcile" / "local" / "backups" / "local" / "db" / "db.pgdump"


def test_a_restore_of_the_newest_backup_reads_the_local_copy_and_runs_no_restic_at_all(
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
    assert log.read_text() == ""  # the backup's own record has the snapshot's sha256

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


def test_a_local_copy_changed_after_its_backup_is_never_committed_even_if_restic_fails(
    pg_server: PgServer, env_dir: Path, tmp_path: Path
) -> None:
    repo = backup_repo(env_dir, local_copy=True, **DB_ONLY)
    path, log = _restic_shim(tmp_path, failing="dump")
    env = backup_secrets(pg_server) | path
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    (taken,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    copy = _local_copy(env_dir)
    data = copy.read_bytes()
    assert data.count(b"row 7\n") == 1  # the dump is uncompressed: rows are plain text
    copy.write_bytes(data.replace(b"row 7\n", b"row X\n"))  # still a valid dump

    pg_server.psql("app", "DELETE FROM t WHERE id > 10")
    done = repo.shipyard("backup", "restore", "local", taken["snapshot_id"], "--yes", env=env)
    assert done.returncode == 1, done.stderr + done.stdout
    assert "restic dump" in done.stderr + done.stdout  # the fallback, refused by the shim
    assert "restic dump" in log.read_text()
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "10"  # nothing changed
    assert pg_server.psql("app", "SELECT count(*) FROM t WHERE v = 'row X'") == "0"


def test_a_backup_stores_its_dump_uncompressed_for_restic_to_compress(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(env_dir, local_copy=True, **DB_ONLY)
    env = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    assert repo.shipyard("backup", "run", "local", env=env).returncode == 0
    listing = subprocess.run(
        ["pg_restore", "-l", str(_local_copy(env_dir))], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^;\s+Compression: (0|none)$", listing, re.MULTILINE), listing


def test_a_snapshot_of_a_compressed_dump_from_before_is_still_restored(
    pg_server: PgServer, env_dir: Path, tmp_path: Path
) -> None:
    repo = backup_repo(env_dir, **DB_ONLY)
    env = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    assert repo.shipyard("backup", "run", "local", env=env).returncode == 0  # the repository
    staged = tmp_path / "staging" / "db"
    staged.mkdir(parents=True)
    dump = staged / "db.pgdump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump)], env=pg_server.env("app"), check=True)
    (staged / "globals.sql").write_text("")
    restic_env = os.environ | {
        "RESTIC_REPOSITORY": str(env_dir / "hosts" / "reconcile" / "local" / "backups" / "restic"),
        "RESTIC_PASSWORD": backup_secrets(pg_server)["TEST_RESTIC_PW"],
    }
    sha = hashlib.sha256(dump.read_bytes()).hexdigest()
    tags = ["env=reconcile/local", "source=db", "kind=postgres", "reason=manual"]
    tags.append(f"dump_sha256={sha}")
    stored = subprocess.run(
        ["restic", "backup", "--json", "--host", "shipyard-reconcile-local"]
        + [f"--tag={tag}" for tag in tags]
        + ["db"],
        cwd=staged.parent, env=restic_env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = json.loads(stored.stdout.splitlines()[-1])
    old = str(summary["snapshot_id"])[:8]

    pg_server.psql("app", "DELETE FROM t")
    done = repo.shipyard("backup", "restore", "local", old, "--yes", env=env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "100"


def test_into_a_repository_that_does_not_compress_the_dump_is_compressed_by_pg_dump(
    pg_server: PgServer, env_dir: Path
) -> None:
    repo = backup_repo(env_dir, local_copy=True, **DB_ONLY)
    env = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    repository = env_dir / "hosts" / "reconcile" / "local" / "backups" / "restic"
    repository.parent.mkdir(parents=True, exist_ok=True)
    restic_env = os.environ | {
        "RESTIC_REPOSITORY": str(repository),
        "RESTIC_PASSWORD": env["TEST_RESTIC_PW"],
    }
    subprocess.run(
        ["restic", "init", "--repository-version", "1"], env=restic_env, check=True,
        capture_output=True,
    )  # fmt: skip
    assert repo.shipyard("backup", "run", "local", env=env).returncode == 0
    listing = subprocess.run(
        ["pg_restore", "-l", str(_local_copy(env_dir))], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"^;\s+Compression: -1$", listing, re.MULTILINE), listing


def test_a_streamed_restore_whose_pg_restore_fails_names_pg_restore_not_restic(
    pg_server: PgServer, env_dir: Path, tmp_path: Path
) -> None:
    repo = backup_repo(env_dir, **DB_ONLY)
    env = backup_secrets(pg_server)
    repo.shipyard("status", "local", env=env)
    seed(pg_server, env_dir)
    pg_server.psql(  # a dump far larger than a pipe's buffer: restic is cut off mid-way
        "app", "INSERT INTO t SELECT g, repeat(md5(g::text), 20) FROM generate_series(101, 20100) g"
    )
    (taken,) = json_of(repo.shipyard("backup", "run", "local", "--json", env=env))
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "pg_restore"
    shim.write_text('#!/bin/sh\necho "pg_restore: error: refused by the test" >&2\nexit 1\n')
    shim.chmod(0o755)
    path = {"PATH": f"{shims}:{os.environ['PATH']}"}
    done = repo.shipyard(
        "backup", "restore", "local", taken["snapshot_id"], "--yes", env=env | path
    )
    assert done.returncode == 1, done.stderr + done.stdout
    assert "pg_restore of db failed: pg_restore: error: refused by the test" in done.stderr
    assert pg_server.psql("app", "SELECT count(*) FROM t") == "20100"
