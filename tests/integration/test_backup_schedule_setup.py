"""`shipyard setup` installs the backup timers on a fresh Debian 12 root, as the deploy
user's own systemd units, and they really back up once the environment is deployed.

One debootstrap copy (tests/support/fresh_root.py) with its own sshd in a chroot at
127.0.0.46. There is no systemd as PID 1 on this machine, so the timers are enabled the
way `systemctl enable` does it offline (the links in timers.target.wants, checked), and
the service is run by hand: its ExecStart with its StandardInput, as the deploy user in
the chroot. docs/backups.md says what that leaves untested (a booted systemd firing them).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port, make_repo
from support.fresh_root import FreshHost
from support.sshd import keygen

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.46"
UNIT_DIR = "home/deploy/.config/systemd/user"
BACKUP = "shipyard-reconcile-production-backup"
VERIFY = "shipyard-reconcile-production-verify"
BASE = "srv/shipyard/reconcile/production"


@dataclass
class Site:
    host: FreshHost
    repo: AppRepo
    work: Path


def config(work: Path, host: FreshHost, key: Path, public: str, port: int) -> dict[str, object]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 15},
        "drain_timeout": 2,
        "observe": {"window": 1, "interval": 0.5},
        "nginx": {
            "mode": "system",
            "include_dir": "/etc/nginx/shipyard.d",
            "binary": "shipyard-nginx",
            "listen": f"{host.address}:{port}",
        },
        "ssh": {
            "known_hosts": str(work / "known_hosts"),
            "identity_file": str(key),
            "config_file": str(work / "ssh_config"),
        },
        "setup": {"authorized_keys": [public], "firewall": False},
        "secrets": {"RESTIC_PASSWORD": {"from_file": str(work / "restic-password")}},
        "environments": {
            "production": {
                "hosts": [f"deploy@{host.address}:{host.port}"],
                "backup": {
                    "password_secret": "RESTIC_PASSWORD",
                    "sources": [{"name": "uploads", "type": "directory", "path": "uploads"}],
                    "schedule": {"every": 3600},
                },
            }
        },
    }


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    work = Path(tempfile.mkdtemp(prefix="bsched-", dir="/tmp"))
    key = work / "client_ed25519"
    public = keygen(key, "shipyard-bsched-tests")
    (work / "ssh_config").write_text("")
    (work / "restic-password").write_text("correct horse battery staple\n")
    host = FreshHost(ADDRESS, free_port(ADDRESS), public)
    try:
        host.start_sshd()
        (work / "known_hosts").write_text(host.known_hosts_line + "\n")
        repo = make_repo(work / "repo", config(work, host, key, public, free_port(ADDRESS)))
        yield Site(host, repo, work)
    finally:
        host.stop()
        shutil.rmtree(work, ignore_errors=True)


def setup(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    result = site.repo.shipyard("setup", "production", *args, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def unit(site: Site, name: str) -> str:
    return (site.host.root / UNIT_DIR / name).read_text()


def start_by_hand(site: Site, service: str) -> dict[str, object]:
    """What systemd runs for the service: ExecStart with StandardInput, as the deploy
    user (the unit's manager is the deploy user's own)."""
    lines = dict(line.split("=", 1) for line in unit(site, service).splitlines() if "=" in line)
    stdin = lines["StandardInput"].removeprefix("file:")
    command = f"{lines['ExecStart'].replace('%%', '%')} < {shlex.quote(stdin)}"
    done = site.host.run("sh", "-c", command, user="deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    reply: dict[str, object] = json.loads(done.stdout)
    return reply


def test_setup_installs_the_backup_timers_as_the_deploy_users_own_enabled_units(
    site: Site,
) -> None:
    result = setup(site)
    assert "backup schedule install" not in result.stdout  # no `next:` step left for it
    root = site.host.root
    timer = unit(site, f"{BACKUP}.timer")
    assert "OnUnitActiveSec=3600s" in timer and f"Unit={BACKUP}.service" in timer
    assert "WantedBy=timers.target" in timer
    service = unit(site, f"{BACKUP}.service")
    assert "ExecStart=shipyard host backup-run\n" in service
    assert f"StandardInput=file:/{BASE}/backups/schedule/backup.json" in service
    assert "correct horse" not in service + timer  # the secret is in the request only
    request = root / BASE / "backups/schedule/backup.json"
    info = request.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == int(site.host.run("id", "-u", "deploy").stdout)
    for name in (BACKUP, VERIFY):  # enabled for the user's manager: timers.target wants it
        link = root / UNIT_DIR / "timers.target.wants" / f"{name}.timer"
        assert os.readlink(link) == f"/{UNIT_DIR}/{name}.timer"
    assert not (root / "etc/systemd/system" / f"{BACKUP}.timer").exists()
    assert (root / "var/lib/systemd/linger/deploy").is_file()  # runs without a login


def test_the_scheduled_backup_waits_for_the_first_deploy_then_backs_up(site: Site) -> None:
    early = start_by_hand(site, f"{BACKUP}.service")
    assert early["ok"] is True and early["backups"] == [], early
    assert "never deployed to this host" in str(early["note"])
    assert not (site.host.root / BASE / "backups/restic").exists()
    deployed = site.repo.shipyard("deploy", "production", timeout=300)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    uploads = f"/{BASE}/shared/uploads"
    made = site.host.run("sh", "-c", f"mkdir -p {uploads} && echo hi > {uploads}/a.txt",
                         user="deploy")  # fmt: skip
    assert made.returncode == 0, made.stderr
    reply = start_by_hand(site, f"{BACKUP}.service")
    assert reply["ok"] is True, reply
    (record,) = reply["backups"]  # type: ignore[misc]
    assert record["source"] == "uploads" and record["reason"] == "schedule"
    listed = site.repo.shipyard("backup", "list", "production", timeout=120)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert record["snapshot_id"][:8] in listed.stdout


def test_a_second_setup_leaves_the_timers_alone_and_says_so(site: Site) -> None:
    result = setup(site)
    assert f"deploy@{ADDRESS}:{site.host.port}: no changes" in result.stdout, result.stdout


def test_check_says_a_missing_timer_would_be_installed_and_installs_nothing(
    site: Site,
) -> None:
    timer = site.host.root / UNIT_DIR / f"{BACKUP}.timer"
    text = timer.read_text()
    timer.unlink()
    try:
        result = setup(site, "--check")
        assert f"backup-schedule: would change /{UNIT_DIR}/{BACKUP}.timer" in result.stdout
        assert "would change: backup-schedule" in result.stdout, result.stdout
        assert not timer.exists()
    finally:
        timer.write_text(text)
