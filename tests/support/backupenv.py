"""An environment with backups configured: a real PostgreSQL database, a SQLite file and
an uploads directory under shared/, restic from Debian; and S3 through moto's server."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.postgres import PgServer

RESTIC_PASSWORD = "restic-test-pw-5521"


def needs_restic() -> None:
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed (scripts/setup installs it)")


def backup_secrets(pg: PgServer, database: str = "app") -> dict[str, str]:
    return {"TEST_DB_URL": pg.url(database), "TEST_RESTIC_PW": RESTIC_PASSWORD}


def backup_config(root: Path, port: int, **backup: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "password_secret": "RESTIC_PASSWORD",
        "sources": [
            {"name": "db", "type": "postgres", "secret": "DATABASE_URL"},
            {"name": "notes", "type": "sqlite", "path": "data/notes.db"},
            {"name": "uploads", "type": "directory", "path": "uploads"},
        ],
        "checks": [
            {"source": "db", "sql": "SELECT count(*) FROM t", "expect": "100"},
            {"source": "notes", "sql": "SELECT count(*) FROM notes", "expect": "5"},
            {"source": "uploads", "min_files": 3},
        ],
    }
    section.update(backup)
    return local_config(
        root,
        port,
        secrets={
            "DATABASE_URL": {"from_env": "TEST_DB_URL"},
            "RESTIC_PASSWORD": {"from_env": "TEST_RESTIC_PW"},
        },
        backup=section,
    )


def shared(env_dir: Path) -> Path:
    return env_dir / "hosts" / "reconcile" / "local" / "shared"


def seed(pg: PgServer, env_dir: Path) -> None:
    """100 rows in PostgreSQL, 5 notes in SQLite, 3 uploaded files."""
    pg.createdb("app")
    pg.psql(
        "app",
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g",
    )
    data = shared(env_dir) / "data"
    data.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data / "notes.db")
    with db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO notes (body) VALUES (?)", [(f"n{i}",) for i in range(5)])
    db.close()
    uploads = shared(env_dir) / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (uploads / f"file{i}.txt").write_text(f"upload {i}\n")


def note_count(env_dir: Path) -> int:
    db = sqlite3.connect(shared(env_dir) / "data" / "notes.db")
    try:
        return int(db.execute("SELECT count(*) FROM notes").fetchone()[0])
    finally:
        db.close()


def uploads(env_dir: Path) -> list[str]:
    return sorted(p.name for p in (shared(env_dir) / "uploads").iterdir())


def backup_repo(env_dir: Path, **backup: Any) -> AppRepo:
    config = backup_config(env_dir / "hosts", free_port(), **backup)
    return make_repo(env_dir / "repo", config)


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


# S3 through moto's server mode ----------------------------------------------------


def moto_server() -> Iterator[str]:
    """A real S3 endpoint on loopback (moto's server); yields its URL."""
    pytest.importorskip("moto")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
