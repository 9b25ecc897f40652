"""A real PostgreSQL server for tests: initdb into a temporary directory, its own port on
loopback, password authentication; stopped and removed afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
(created by the Debian package).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.apprepo import free_port

PASSWORD = "pg-test-pw-7391"


def pg_bin() -> Path:
    for version in ("17", "16", "15"):
        path = Path(f"/usr/lib/postgresql/{version}/bin")
        if (path / "initdb").exists():
            return path
    pytest.skip("PostgreSQL server binaries are not installed (scripts/setup installs them)")


@dataclass(frozen=True)
class PgServer:
    port: int
    data: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def env(self, database: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGPASSWORD": PASSWORD,
            "PGDATABASE": database,
        }

    def psql(self, database: str, sql: str) -> str:
        result = subprocess.run(
            ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=self.env(database),
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def createdb(self, name: str) -> None:
        subprocess.run(["createdb", name], env=self.env("postgres"), check=True)


def _as_postgres() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres"}


@pytest.fixture
def pg_server() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


@contextmanager
def postgres_server(settings: str = "") -> Iterator[PgServer]:
    """Start a server (extra `-c name=value` options in `settings`); stop and remove it."""
    bindir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="sypg-", dir="/tmp"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    port = free_port()
    run = _as_postgres()
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        **run,  # type: ignore[arg-type]
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off {settings}"
    subprocess.run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
        **run,  # type: ignore[arg-type]
    )
    server = PgServer(port, data)
    for _ in range(100):
        probe = subprocess.run(
            ["pg_isready", "-h", "127.0.0.1", "-p", str(port)], check=False, capture_output=True
        )
        if probe.returncode == 0:
            break
        time.sleep(0.1)
    try:
        yield server
    finally:
        subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
            **run,  # type: ignore[arg-type]
        )
        shutil.rmtree(root, ignore_errors=True)
