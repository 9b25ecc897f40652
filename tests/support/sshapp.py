"""The example app on SSH test hosts: the config pieces and the clean-up every such test
repeats (tests/support/sshd.py starts the hosts themselves)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable

import httpx

from support.sshd import SshFleet, TestHost

APP = "reconcile"


def ssh_settings(fleet: SshFleet) -> dict[str, str]:
    """shipyard.yml's `ssh:` for this fleet: its known_hosts, client key and config."""
    return {
        "known_hosts": str(fleet.known_hosts),
        "identity_file": str(fleet.client_key),
        "config_file": str(fleet.ssh_config),
    }


def host_entry(host: TestHost, port: int) -> dict[str, str]:
    """An environment's `hosts:` entry: the host's address and root, nginx on `port`."""
    return {
        "address": str(host.target),
        "root": str(host.root_dir),
        "listen": f"{host.target.host}:{port}",
    }


def open_to_nginx(hosts: Iterable[TestHost]) -> None:
    """Let nginx's workers reach each host's root (its /tmp parents are 0700)."""
    for host in hosts:
        for path in [host.root_dir, *host.root_dir.parents]:
            if str(path).startswith("/tmp/"):
                path.chmod(path.stat().st_mode | 0o005)


def shut_down(placed: Iterable[tuple[TestHost, str]], *, remove: bool = True) -> None:
    """Stop each (host, environment)'s supervisord and slots, all at once; then, unless
    told not to, remove the app's directory on the host."""
    started = []
    for host, env in placed:
        request = json.dumps({"root": str(host.root_dir), "app": APP, "env": env})
        process = subprocess.Popen(
            [sys.executable, "-m", "shipyard.host", "shutdown"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdin is not None
        process.stdin.write(request)
        process.stdin.close()
        started.append((host, process))
    for host, process in started:
        process.wait(timeout=60)
        if remove:
            subprocess.run(["rm", "-rf", str(host.root_dir / APP)], check=False)


def version_on(host: TestHost, port: int) -> str | None:
    """The release version the host's nginx serves on `port`, or None when nothing does."""
    try:
        response = httpx.get(f"http://{host.target.host}:{port}/healthz", timeout=5)
    except httpx.ConnectError:
        return None
    return response.headers.get("X-App-Version")
