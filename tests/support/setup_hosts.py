"""What the chroot setup tests share: the operator's keys and files, a fresh host with its
sshd started and trusted, and the shipyard.yml that makes it an environment's one host."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.apprepo import AppRepo, free_port
from support.fresh_root import FreshHost, Image
from support.sshd import keygen


@dataclass
class Fleet:
    work: Path
    client_key: Path
    public_key: str
    known_hosts: Path
    ssh_config: Path


@contextmanager
def operator_files() -> Iterator[Fleet]:
    """A client key (its comment: shipyard-setup-tests), an empty ssh config and known_hosts."""
    work = Path(tempfile.mkdtemp(prefix="setup-", dir="/tmp"))
    key = work / "client_ed25519"
    public = keygen(key, "shipyard-setup-tests")
    (work / "ssh_config").write_text("")
    (work / "known_hosts").write_text("")
    try:
        yield Fleet(work, key, public, work / "known_hosts", work / "ssh_config")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start_host(fleet: Fleet, address: str, image: Image = Image.MINBASE) -> FreshHost:
    host = FreshHost(address, free_port(address), fleet.public_key, image=image)
    host.start_sshd()
    with fleet.known_hosts.open("a") as known:
        known.write(host.known_hosts_line + "\n")
    return host


def config(fleet: Fleet, host: FreshHost, port: int) -> dict[str, object]:
    """The example app as `production`, on `host` (as deploy@, made by setup), nginx in
    system mode listening on `port` of the host's address."""
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
            "known_hosts": str(fleet.known_hosts),
            "identity_file": str(fleet.client_key),
            "config_file": str(fleet.ssh_config),
        },
        "setup": {"authorized_keys": [fleet.public_key]},
        "environments": {"production": {"hosts": [f"deploy@{host.address}:{host.port}"]}},
    }


# the units setup enables on a host of config()'s environment
UNITS = ("nginx.service", "nftables.service", "shipyard-reconcile-production.service")


def setup(repo: AppRepo, *args: str) -> subprocess.CompletedProcess[str]:
    """`shipyard setup production` in the repository made from config()."""
    return repo.shipyard("setup", "production", *args, timeout=900)


def enabled_state(host: FreshHost, unit: str) -> subprocess.CompletedProcess[str]:
    """What `systemctl --root=<copy> is-enabled` says of `unit` (no systemd runs there)."""
    return subprocess.run(
        ["systemctl", f"--root={host.root}", "is-enabled", unit],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
