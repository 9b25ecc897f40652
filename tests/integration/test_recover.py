"""`shipyard recover ENV --to HOST`: the server is gone; a second SSH test host serves the
same release with the data of the newest verified backup (real PostgreSQL rows, a SQLite
file and uploads), from a repository that outlived the server."""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from support.apprepo import AppRepo, free_port, make_repo
from support.backupenv import RESTIC_PASSWORD, needs_restic
from support.postgres import PgServer, postgres_server
from support.sshd import SshFleet, TestHost

pytestmark = pytest.mark.integration


@dataclass
class Lost:
    """An environment whose only server is gone, with its backups off-site."""

    repo: AppRepo
    pg: PgServer
    old: TestHost
    new: TestHost
    port: int
    release: str
    secrets: dict[str, str]


def config(fleet: SshFleet, host: TestHost, port: int, offsite: Path) -> dict[str, object]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 8},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "gates": {"bandit": {"enabled": False}},
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": {
            "known_hosts": str(fleet.known_hosts),
            "identity_file": str(fleet.client_key),
            "config_file": str(fleet.ssh_config),
        },
        "secrets": {
            "DATABASE_URL": {"from_env": "TEST_DB_URL"},
            "RESTIC_PASSWORD": {"from_env": "TEST_RESTIC_PW"},
        },
        "environments": {
            "production": {
                "hosts": [
                    {
                        "address": str(host.target),
                        "root": str(host.root_dir),
                        "listen": f"{host.target.host}:{port}",
                    }
                ],
                "backup": {
                    "password_secret": "RESTIC_PASSWORD",
                    "repository": str(offsite),
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
                },
            }
        },
    }


def shared(host: TestHost) -> Path:
    return host.root_dir / "reconcile" / "production" / "shared"


def shutdown(host: TestHost) -> None:
    request = json.dumps({"root": str(host.root_dir), "app": "reconcile", "env": "production"})
    subprocess.run(
        [sys.executable, "-m", "shipyard.host", "shutdown"], input=request, text=True, check=False
    )
    shutil.rmtree(host.root_dir / "reconcile", ignore_errors=True)


def seed(pg: PgServer, host: TestHost) -> None:
    pg.createdb("app")
    pg.psql(
        "app",
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g",
    )
    (shared(host) / "data").mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(shared(host) / "data" / "notes.db")
    with db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.executemany("INSERT INTO notes (body) VALUES (?)", [(f"n{i}",) for i in range(5)])
    db.close()
    (shared(host) / "uploads").mkdir(exist_ok=True)
    for i in range(3):
        (shared(host) / "uploads" / f"file{i}.txt").write_text(f"upload {i}\n")


@pytest.fixture(scope="module")
def lost(ssh_hosts: SshFleet) -> Iterator[Lost]:
    """Deployed to the first host, backed up off-site; then that server is lost: its
    processes and files gone, its sshd stopped, the database empty."""
    needs_restic()
    old, new = ssh_hosts(2)
    for host in (old, new):
        for path in [host.root_dir, *host.root_dir.parents]:
            if str(path).startswith("/tmp/"):
                path.chmod(path.stat().st_mode | 0o005)
    work = Path(tempfile.mkdtemp(prefix="syr-", dir="/tmp"))
    port = free_port()
    with postgres_server() as pg:
        secrets = {"TEST_DB_URL": pg.url("app"), "TEST_RESTIC_PW": RESTIC_PASSWORD}
        repo = make_repo(work / "repo", config(ssh_hosts, old, port, work / "offsite"))
        deployed = repo.shipyard("deploy", "production", env=secrets)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        seed(pg, old)
        backed_up = repo.shipyard("backup", "run", "production", env=secrets)
        assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
        history = json.loads(repo.shipyard("history", "production", "--json", env=secrets).stdout)
        shutdown(old)
        old.stop()
        pg.psql("postgres", "DROP DATABASE app")
        pg.createdb("app")  # the new database server: the database exists, empty
        yield Lost(repo, pg, old, new, port, str(history[0]["release_id"]), secrets)
        shutdown(new)
    shutil.rmtree(work, ignore_errors=True)


RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbooks" / "server-gone.md"


def runbook_commands(address: str) -> list[list[str]]:
    """The command block of docs/runbooks/server-gone.md, for the new host's address."""
    text = RUNBOOK.read_text()
    block = text.split("<!-- runbook-commands", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [
        shlex.split(line.replace("deploy@NEW_HOST", address))[1:]  # without `shipyard`
        for line in lines
        if line
    ]


def point_config_at(lost: Lost, host: TestHost) -> None:
    """Runbook step 3: shipyard.yml's hosts name the new server instead of the lost one."""
    data = yaml.safe_load(lost.repo.config.read_text())
    data["environments"]["production"]["hosts"] = [
        {
            "address": str(host.target),
            "root": str(host.root_dir),
            "listen": f"{host.target.host}:{lost.port}",
        }
    ]
    lost.repo.write_config(data)


def test_the_runbook_recovers_the_release_and_the_verified_data_onto_a_second_host(
    lost: Lost,
) -> None:
    point_config_at(lost, lost.new)
    ran = {}
    for args in runbook_commands(str(lost.new.target)):
        done = lost.repo.shipyard(*args, env=lost.secrets, timeout=300)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        ran[args[0]] = done
    recovered = ran["recover"]
    response = httpx.get(f"http://{lost.new.target.host}:{lost.port}/healthz", timeout=5)
    assert (response.status_code, response.headers.get("X-App-Version")) == (200, "1.0.0")
    assert f"release {lost.release} (from the tags of snapshot" in recovered.stdout
    assert lost.pg.psql("app", "SELECT count(*) FROM t") == "100"
    notes = sqlite3.connect(shared(lost.new) / "data" / "notes.db")
    assert notes.execute("SELECT count(*) FROM notes").fetchone() == (5,)
    notes.close()
    assert sorted(p.name for p in (shared(lost.new) / "uploads").iterdir()) == [
        "file0.txt",
        "file1.txt",
        "file2.txt",
    ]
    assert "one step left: point DNS or the load balancer" in recovered.stdout
    for step in ("setup", "release", "verify", "restore", "deploy"):
        assert f"{step} " in recovered.stdout
    status = json.loads(
        lost.repo.shipyard("status", "production", "--json", env=lost.secrets).stdout
    )
    (recovery,) = status["drills"]
    assert (recovery["kind"], recovery["drill"], recovery["ok"]) == ("recover", False, True)
    assert list(recovery["steps"]) == ["setup", "release", "verify", "restore", "deploy"]


def test_recover_refuses_a_host_that_already_serves_the_environment(lost: Lost) -> None:
    refused = lost.repo.shipyard(
        "recover", "production", "--to", str(lost.new.target), env=lost.secrets
    )
    assert refused.returncode == 7, refused.stdout + refused.stderr
    assert "already serves production" in refused.stderr
    assert "--force" in refused.stderr


def test_drill_recover_rehearses_on_a_scratch_host_and_tears_it_down(
    lost: Lost, ssh_hosts: SshFleet
) -> None:
    scratch = ssh_hosts(3)[2]
    for path in [scratch.root_dir, *scratch.root_dir.parents]:
        if str(path).startswith("/tmp/"):
            path.chmod(path.stat().st_mode | 0o005)
    lost.pg.psql("app", "INSERT INTO t VALUES (1000, 'after the backup')")
    done = lost.repo.shipyard(
        "drill",
        "recover",
        "production",
        "--to",
        str(scratch.target),
        "--root",
        str(scratch.root_dir),
        "--listen",
        f"{scratch.target.host}:{free_port(scratch.target.host)}",
        env=lost.secrets,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"release {lost.release} (from old host {lost.new.target})" in done.stdout
    assert "tearing down" not in done.stdout, done.stdout
    assert not (scratch.root_dir / "reconcile" / "production").exists()  # torn down
    databases = lost.pg.psql("postgres", "SELECT string_agg(datname, ',') FROM pg_database")
    assert "shipyard_drill_" not in databases  # the scratch database dropped
    assert lost.pg.psql("app", "SELECT count(*) FROM t") == "101"  # the real one untouched
    status = json.loads(
        lost.repo.shipyard("status", "production", "--json", env=lost.secrets).stdout
    )
    drill = next(d for d in status["drills"] if d["drill"])
    assert (drill["kind"], drill["ok"]) == ("recover", True)
    assert "teardown" in drill["steps"] and "restore" in drill["steps"]
