"""An environment whose only server is lost, and a fresh root to recover it onto.

`lost_server()` builds, in order:

- an off-site restic repository in S3 (moto's server on loopback): the lost server and
  the new one (a chroot) both reach it, as they would a bucket;
- a real PostgreSQL server on loopback, the "managed database" that outlives the app's
  server (the chroot reaches it too);
- the original server: an ordinary SSH test host (tests/support/sshd.py) on 127.0.0.143,
  deployed to, with rows in PostgreSQL and files in its uploads directory, backed up;
- then the loss: its environment shut down and removed, its sshd stopped, the database
  dropped and created again, empty (the runbook's step 2);
- the new server: a fresh Debian root (tests/support/fresh_root.py) on 127.0.0.43, only
  sshd and the root key, which `shipyard recover` first makes a Shipyard host.

`point_at_new_server()` is the runbook's step 3: shipyard.yml names the new server, in
the settings of a host that `shipyard setup` makes (the lost one was set up by hand).
The tests (tests/integration/test_recover_fresh_root.py) and bench/recover.py share it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.apprepo import AppRepo, free_port, make_repo
from support.backupenv import RESTIC_PASSWORD, moto_server
from support.fresh_root import FreshHost
from support.postgres import PgServer, postgres_server
from support.sshapp import open_to_nginx, ssh_settings
from support.sshd import SshFleet, TestHost

OLD_ADDRESS = "127.0.0.143"
NEW_ADDRESS = "127.0.0.43"
ENV = "production"
SETUP_ROOT = "/srv/shipyard"  # the environment root's default, which setup creates
UPLOADS = ("file0.txt", "file1.txt", "file2.txt")
SECRETS = {
    "DATABASE_URL": {"from_env": "TEST_DB_URL"},
    "RESTIC_PASSWORD": {"from_env": "TEST_RESTIC_PW"},
    "S3_KEY": {"from_env": "TEST_S3_KEY"},
    "S3_SECRET": {"from_env": "TEST_S3_SECRET"},
}
CHECKS = [
    {"source": "db", "sql": "SELECT count(*) FROM t", "expect": "100"},
    {"source": "uploads", "min_files": len(UPLOADS)},
]


def seed_rows(pg: PgServer, database: str) -> None:
    """The database with 100 rows in table t: what CHECKS expects."""
    pg.createdb(database)
    pg.psql(
        database,
        "CREATE TABLE t (id int PRIMARY KEY, v text); "
        "INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g",
    )


@dataclass
class LostServer:
    """The environment after the loss: its repository, data and the new server."""

    repo: AppRepo
    pg: PgServer
    database: str
    fresh: FreshHost
    fleet: SshFleet
    config: dict[str, Any]  # shipyard.yml as deployed to the lost server
    release: str  # the lost server's active release and its artifact's sha256
    digest: str
    secrets: dict[str, str]  # the environment variables the secrets come from
    nginx_port: int  # nginx's port on the new server
    seeded: object  # what `seed` returned
    backups: list[dict[str, Any]]  # `backup run --json` on the lost server
    backup_s: float  # how long that took

    @property
    def new_host(self) -> str:
        """The new server as shipyard.yml names it: the deploy user that setup makes."""
        return f"deploy@{NEW_ADDRESS}:{self.fresh.port}"

    @property
    def url(self) -> str:
        return f"http://{NEW_ADDRESS}:{self.nginx_port}"

    def shared(self) -> Path:
        """The environment's shared/ on the new server (inside the chroot)."""
        return self.fresh.root / SETUP_ROOT.lstrip("/") / "reconcile" / ENV / "shared"

    def point_at_new_server(self) -> None:
        """The runbook's step 3, for a server that `shipyard setup` makes: hosts: names
        it as the deploy user, nginx is the host's own (docs/setup.md's settings)."""
        data = json.loads(json.dumps(self.config))
        data.pop("shipyard_command")
        data["nginx"] = {
            "mode": "system",
            "include_dir": "/etc/nginx/shipyard.d",
            "binary": "shipyard-nginx",
            "listen": f"{NEW_ADDRESS}:{self.nginx_port}",
        }
        data["setup"] = {"authorized_keys": [self.fleet.client_public_key]}
        data["environments"][ENV]["hosts"] = [self.new_host]
        self.repo.write_config(data)

    def shipyard(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return self.repo.shipyard(*args, env=self.secrets, timeout=timeout)

    def serving(self) -> tuple[str, str]:
        """What the environment's primary (shipyard.yml's) serves: release, sha256."""
        return active_release(self.repo, self.secrets)


def config(fleet: SshFleet, old: TestHost, port: int, s3_url: str) -> dict[str, Any]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 30},
        "drain_timeout": 2,
        "observe": {"window": 0},
        "gates": {"bandit": {"enabled": False}},
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": ssh_settings(fleet),
        "secrets": SECRETS,
        "environments": {
            ENV: {
                "hosts": [
                    {
                        "address": str(old.target),
                        "root": str(old.root_dir),
                        "listen": f"{OLD_ADDRESS}:{port}",
                    }
                ],
                "backup": {
                    "repository": f"s3:{s3_url}/shipyard-backups/reconcile",
                    "s3": {
                        "access_key_id_secret": "S3_KEY",
                        "secret_access_key_secret": "S3_SECRET",
                        "region": "us-east-1",
                    },
                    "password_secret": "RESTIC_PASSWORD",
                    "sources": [
                        {"name": "db", "type": "postgres", "secret": "DATABASE_URL"},
                        {"name": "uploads", "type": "directory", "path": "uploads"},
                    ],
                    "checks": CHECKS,
                    "timeout": 3600,
                },
            }
        },
    }


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}")


@contextlib.contextmanager
def lost_server(
    *,
    database: str = "app",
    seed: Callable[[PgServer, str], object] = seed_rows,
    checks: list[dict[str, Any]] | None = None,
    pg_settings: str = "",
) -> Iterator[LostServer]:
    """The environment deployed, backed up off-site and its server lost (see the
    module's docstring); `seed` creates and fills `database` before the backup."""
    work = Path(tempfile.mkdtemp(prefix="sylr-", dir="/tmp"))
    fleet = SshFleet(base=work)  # its clean-up removes `work`
    fresh: FreshHost | None = None
    old = TestHost(OLD_ADDRESS, fleet.base, fleet.client_public_key, free_port(OLD_ADDRESS))
    fleet.hosts.append(old)  # the fleet stops it with the rest
    try:
        with contextlib.contextmanager(moto_server)() as s3_url, postgres_server(pg_settings) as pg:
            old.start()
            open_to_nginx([old])
            fresh = FreshHost(NEW_ADDRESS, free_port(NEW_ADDRESS), fleet.client_public_key)
            fresh.start_sshd()
            fleet.write_known_hosts()
            with fleet.known_hosts.open("a") as known:
                known.write(fresh.known_hosts_line + "\n")
            secrets = {
                "TEST_DB_URL": pg.url(database),
                "TEST_RESTIC_PW": RESTIC_PASSWORD,
                "TEST_S3_KEY": "testing-key",
                "TEST_S3_SECRET": "testing-secret-value-9",
            }
            data = config(fleet, old, free_port(OLD_ADDRESS), s3_url)
            if checks is not None:
                data["environments"][ENV]["backup"]["checks"] = checks
            repo = make_repo(work / "repo", data)
            _check(repo.shipyard("deploy", ENV, env=secrets, timeout=300), "deploy")
            seeded = seed(pg, database)
            uploads = old.root_dir / "reconcile" / ENV / "shared" / "uploads"
            uploads.mkdir(parents=True, exist_ok=True)
            for name in UPLOADS:
                (uploads / name).write_text(f"uploaded {name}\n")
            started = time.monotonic()
            backed_up = repo.shipyard("backup", "run", ENV, "--json", env=secrets, timeout=3600)
            backup_s = round(time.monotonic() - started, 2)
            _check(backed_up, "backup")
            release, digest = active_release(repo, secrets)
            _lose(old)
            pg.psql("postgres", f"DROP DATABASE {database}")
            pg.createdb(database)  # the new database server: the database exists, empty
            yield LostServer(
                repo=repo,
                pg=pg,
                database=database,
                fresh=fresh,
                fleet=fleet,
                config=data,
                release=release,
                digest=digest,
                secrets=secrets,
                nginx_port=free_port(NEW_ADDRESS),
                seeded=seeded,
                backups=json.loads(backed_up.stdout),
                backup_s=backup_s,
            )
    finally:
        if fresh is not None:
            fresh.stop()  # everything that ran in the chroot: supervisord, nginx, the app
        fleet.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def _lose(host: TestHost) -> None:
    """The server is gone: its environment's processes and files, then its sshd."""
    request = json.dumps({"root": str(host.root_dir), "app": "reconcile", "env": ENV})
    subprocess.run(
        [sys.executable, "-m", "shipyard.host", "shutdown"],
        input=request,
        text=True,
        check=False,
        capture_output=True,
    )
    shutil.rmtree(host.root_dir / "reconcile", ignore_errors=True)
    host.stop()


def active_release(repo: AppRepo, secrets: dict[str, str]) -> tuple[str, str]:
    """The release the environment's primary serves, and its artifact's sha256."""
    listing = repo.shipyard("releases", ENV, "--json", env=secrets)
    _check(listing, "releases")
    (active,) = [r for r in json.loads(listing.stdout) if r["active"]]
    return str(active["release_id"]), str(active["digest"])
