"""`shipyard setup` on a fresh Debian 12 server that boots with systemd as PID 1.

One copy of the bootable image (tests/support/booted_root.py) runs in systemd-nspawn in
a network namespace of its own (10.250.9.2, reached through a veth pair), with nothing
but sshd and root's key. It is set up, deployed to, and then REBOOTED: what setup left
on disk has to bring the app back by itself (the boot unit runs `shipyard repair`,
supervisord and nginx serve), the firewall is really loaded (from this machine, only 22
and 80 answer; a port listening inside is dropped), sshd refuses passwords, and a second
setup changes nothing (and, above all, stops nothing).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paramiko
import pytest
from support.apprepo import AppRepo, make_repo
from support.booted_root import BootedHost, nspawn_available
from support.sshd import keygen

from shipyard.dist.wheelhouse import CACHE_ENV, cache_root

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(nspawn_available() is not None, reason=str(nspawn_available())),
]

NET = 9  # 10.250.9.0/24: this module's own veth pair
UNIT = "shipyard-reconcile-production.service"
PROBE_PORT = 8080  # something listens here inside; the firewall must drop it


@dataclass
class Booted:
    host: BootedHost
    repo: AppRepo
    work: Path
    offered_before_setup: list[str]  # sshd's auth methods on the fresh server
    wheelhouse: Path


def config(host: BootedHost, work: Path, key: Path, public: str) -> dict[str, object]:
    return {
        "app": "reconcile",
        "start": "python3 app.py",
        "health": {"path": "/healthz", "interval": 0.1, "deadline": 30},
        "drain_timeout": 2,
        "observe": {"window": 1, "interval": 0.5},
        "nginx": {
            "mode": "system",
            "include_dir": "/etc/nginx/shipyard.d",
            "binary": "shipyard-nginx",
            "listen": f"{host.address}:80",
        },
        "ssh": {
            "known_hosts": str(work / "known_hosts"),
            "identity_file": str(key),
            "config_file": str(work / "ssh_config"),
        },
        "setup": {"authorized_keys": [public]},
        "environments": {"production": {"hosts": [f"deploy@{host.address}"]}},
    }


def private_wheelhouse(work: Path) -> Path:
    """A wheelhouse cache of this module's own, seeded with the shared one's dependency
    wheels: another `shipyard setup` on this machine (another test, another checkout)
    rewrites the shared archive, and one that did so between this setup's checksum and
    its upload would leave other bytes on the server than the checksum says."""
    private = work / "wheelhouse"
    private.mkdir()
    shared = cache_root()
    for house in shared.glob("*/.complete") if shared.is_dir() else []:
        skip = shutil.ignore_patterns("bluegreen_shipyard-*", "*.lock", "*.tar", "*.partial")
        shutil.copytree(house.parent, private / house.parent.name, ignore=skip)
    return private


def auth_methods(host: BootedHost, user: str) -> list[str]:
    """What sshd offers `user` (the `none` method's refusal lists them)."""
    with paramiko.Transport((host.address, host.port)) as transport:
        transport.start_client(timeout=10)
        try:
            transport.auth_none(user)
        except paramiko.BadAuthenticationType as refused:
            return list(refused.allowed_types)
    return []


def listen_inside(host: BootedHost, port: int) -> None:
    """A plain HTTP server on 0.0.0.0:PORT in the container, as a transient unit."""
    started = host.nsenter("systemd-run", f"--unit=probe-{port}", "--property=Type=exec",
                           "python3", "-m", "http.server", "--bind", "0.0.0.0", str(port),
                           "--directory", "/srv")  # fmt: skip
    assert started.returncode == 0, started.stderr
    inside = host.nsenter("python3", "-c", _FETCH, f"http://{host.address}:{port}/")
    assert inside.returncode == 0, inside.stdout + inside.stderr


_FETCH = """
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("no answer")
"""


def reaches(address: str, port: int) -> bool:
    """A TCP connection from this machine (outside the container) is accepted."""
    try:
        with socket.create_connection((address, port), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def booted() -> Iterator[Booted]:
    work = Path(tempfile.mkdtemp(prefix="booted-setup-", dir="/tmp"))
    key = work / "client_ed25519"
    public = keygen(key, "shipyard-booted-tests")
    (work / "ssh_config").write_text("")
    host = BootedHost(NET, public)
    try:
        (work / "known_hosts").write_text(host.known_hosts_line + "\n")
        host.boot()
        listen_inside(host, PROBE_PORT)
        assert reaches(host.address, PROBE_PORT)  # no firewall yet: the probe is honest
        offered = auth_methods(host, "deploy")
        repo = make_repo(work / "repo", config(host, work, key, public))
        yield Booted(host, repo, work, offered, private_wheelhouse(work))
    finally:
        host.stop()
        shutil.rmtree(work, ignore_errors=True)


def setup(booted: Booted, *args: str) -> subprocess.CompletedProcess[str]:
    env = {CACHE_ENV: str(booted.wheelhouse)}
    return booted.repo.shipyard("setup", "production", *args, env=env, timeout=900)


def is_active(host: BootedHost, unit: str) -> str:
    return host.nsenter("systemctl", "is-active", unit).stdout.strip()


def test_setup_makes_a_booted_server_a_shipyard_host_and_starts_its_services(
    booted: Booted,
) -> None:
    host = booted.host
    result = setup(booted)
    assert result.returncode == 0, result.stdout + result.stderr
    for unit in ("nginx.service", "nftables.service", "ssh.service"):
        assert is_active(host, unit) == "active", (unit, host.nsenter("systemctl", "status", unit))
    enabled = host.nsenter("systemctl", "is-enabled", UNIT)
    assert enabled.stdout.strip() == "enabled", enabled
    assert is_active(host, UNIT) == "inactive"  # started at boot, not by setup
    assert not host.proxy.refused, host.proxy.refused  # apt asked only the mirror


def test_after_setup_a_deploy_serves_through_the_servers_nginx(booted: Booted) -> None:
    host, repo = booted.host, booted.repo
    result = repo.shipyard("deploy", "production", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    response = httpx.get(f"http://{host.address}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("X-App-Version") == "1.0.0"


def test_after_a_reboot_the_boot_unit_brings_the_app_back_by_itself(booted: Booted) -> None:
    host = booted.host
    state = host.reboot()
    assert state in ("running", "degraded"), state
    failed = host.nsenter("systemctl", "--failed", "--no-legend", "--plain")
    assert UNIT not in failed.stdout and "nginx" not in failed.stdout, failed.stdout
    shown = host.nsenter("systemctl", "show", UNIT, "-p", "ActiveState", "-p", "ExecMainStatus")
    assert sorted(shown.stdout.split()) == ["ActiveState=active", "ExecMainStatus=0"], shown
    journal = host.nsenter("journalctl", "-b", "-u", UNIT, "--no-pager", "-o", "cat")
    assert "local: started supervisord" in journal.stdout, journal.stdout  # repair's own
    assert "local: started the active slot blue" in journal.stdout, journal.stdout
    supervisord = host.nsenter("pgrep", "-u", "deploy", "-f", "supervisord")
    assert supervisord.returncode == 0, host.nsenter("ps", "-ef").stdout
    response = httpx.get(f"http://{host.address}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers.get("X-App-Version") == "1.0.0"


def test_the_firewall_is_loaded_at_boot_and_lets_only_ssh_and_http_in(booted: Booted) -> None:
    host = booted.host
    listen_inside(host, PROBE_PORT)  # answers inside the server...
    assert not reaches(host.address, PROBE_PORT)  # ...and is dropped from outside
    assert reaches(host.address, 22) and reaches(host.address, 80)
    rules = host.nsenter("nft", "list", "ruleset")
    assert "policy drop" in rules.stdout, rules


def test_sshd_refuses_password_logins_after_setup(booted: Booted) -> None:
    host = booted.host
    assert "password" in booted.offered_before_setup  # Debian's default: the check can fail
    password = secrets.token_urlsafe(16)
    changed = subprocess.run(
        ["nsenter", "-t", str(host.init_pid()), "-a", "chpasswd"],
        input=f"deploy:{password}\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "password" not in auth_methods(host, "deploy")
    with paramiko.SSHClient() as client:
        client.load_host_keys(str(booted.work / "known_hosts"))  # strict: known key only
        with pytest.raises(paramiko.AuthenticationException):
            client.connect(host.address, host.port, "deploy", password, timeout=10,
                           allow_agent=False, look_for_keys=False)  # fmt: skip


def test_a_second_setup_on_the_booted_server_changes_and_stops_nothing(booted: Booted) -> None:
    host = booted.host
    result = setup(booted)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"deploy@{host.address}: no changes" in result.stdout, result.stdout
    assert is_active(host, UNIT) == "active"
    response = httpx.get(f"http://{host.address}/healthz", timeout=10)
    assert response.status_code == 200
