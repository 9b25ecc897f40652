"""ACME over SSH to two hosts: the HTTP-01 answer is on every host, so the name may be
validated on any of them (here DNS points it at the second host, not the primary)."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from support.apprepo import AppRepo, free_port, make_repo
from support.pebble import Pebble
from support.sshd import SshFleet, TestHost
from test_ssh_deploy import ssh_config

pytestmark = pytest.mark.integration

NAME = "fleet.example.com"


@pytest.fixture
def fleet(ssh_hosts: SshFleet) -> Iterator[tuple[AppRepo, list[TestHost], int, Path]]:
    hosts = ssh_hosts(2)
    for host in hosts:
        for path in [host.root_dir, *host.root_dir.parents]:
            if str(path).startswith("/tmp/"):
                path.chmod(path.stat().st_mode | 0o005)
    port, https_port = free_port(), free_port()
    work = Path(tempfile.mkdtemp(prefix="sytf-", dir="/tmp"))
    with Pebble(work / "pebble", http_port=port, dns={NAME: hosts[1].target.host}) as pebble:
        config = ssh_config(ssh_hosts, hosts, port)
        config["nginx"] = {"server_names": [NAME]}
        config["health"] = {"path": "/healthz", "interval": 0.1, "deadline": 30}
        config["environments"]["production"]["tls"] = {  # type: ignore[index]
            "mode": "acme",
            "port": https_port,
            "acme": {"directory": pebble.directory, "ca_bundle": str(pebble.ca_bundle)},
        }
        repo = make_repo(work / "repo", config)
        try:
            yield repo, hosts, https_port, work
        finally:
            for host in hosts:
                request = json.dumps(
                    {"root": str(host.root_dir), "app": "reconcile", "env": "production"}
                )
                subprocess.run(
                    [sys.executable, "-m", "shipyard.host", "shutdown"],
                    input=request,
                    text=True,
                    check=False,
                )
                subprocess.run(["rm", "-rf", str(host.root_dir / "reconcile")], check=False)
            subprocess.run(["rm", "-rf", str(work)], check=False)


def test_a_name_validated_on_the_second_host_gets_one_certificate_served_by_every_host(
    fleet: tuple[AppRepo, list[TestHost], int, Path],
) -> None:
    repo, hosts, https_port, work = fleet
    result = repo.shipyard("deploy", "production", env={"XDG_STATE_HOME": str(work / "state")})
    assert result.returncode == 0, result.stdout + result.stderr
    serials = set()
    for host in hosts:
        pem = ssl.get_server_certificate((host.target.host, https_port))
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert "Pebble" in cert.issuer.rfc4514_string()
        serials.add(cert.serial_number)
    assert len(serials) == 1  # one order, installed on both
    status = repo.shipyard("tls", "status", "production")
    assert status.returncode == 0, status.stderr
    assert all(str(host.target.host) in status.stdout for host in hosts)


def test_a_renewal_keeps_the_key_both_hosts_hold_and_reloads_neither(
    fleet: tuple[AppRepo, list[TestHost], int, Path],
) -> None:
    repo, hosts, https_port, work = fleet
    env = {"XDG_STATE_HOME": str(work / "state")}
    result = repo.shipyard("deploy", "production", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    before = [_served(host, https_port) for host in hosts]
    renewed = repo.shipyard("tls", "renew", "production", "--force", env=env)
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    assert "key: kept" in renewed.stdout and "nginx reloaded on: none" in renewed.stdout
    after = [_served(host, https_port) for host in hosts]
    assert len({c.serial_number for c in after}) == 1  # one new certificate on both
    assert after[0].serial_number != before[0].serial_number
    keys = {_public_key(c) for c in before + after}
    assert len(keys) == 1  # the key made at the first install, kept on both hosts


def _served(host: TestHost, port: int) -> x509.Certificate:
    pem = ssl.get_server_certificate((host.target.host, port))
    return x509.load_pem_x509_certificate(pem.encode())


def _public_key(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
