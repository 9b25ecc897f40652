"""Fixtures of the fault-injection suite: a fresh local environment per test, and one
environment on the module's three SSH test hosts, shared by the module's tests.

Stopping an environment takes a second or two per host (supervisord waits for the app
to drain), so it happens in the background while the next test runs; everything is
stopped and removed before the SSH hosts go away and before the session ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.apprepo import free_port, make_repo
from support.faults import (
    FaultEnv,
    Fleet,
    Janitor,
    discard_local_env,
    first_deploy,
    known_hosts_for,
    new_local_env,
    new_workdir,
    open_up,
    remove_tree,
    shutdown_env,
    ssh_settings,
)
from support.linkcut import LinkCut
from support.sshd import SshFleet


@pytest.fixture(scope="session")
def janitor() -> Iterator[Janitor]:
    janitor = Janitor()
    try:
        yield janitor
    finally:
        janitor.close()


@pytest.fixture
def local_env(janitor: Janitor) -> Iterator[FaultEnv]:
    env = new_local_env()
    try:
        yield env
    finally:
        janitor.later(lambda: discard_local_env(env))


@pytest.fixture(scope="module")
def fleet(ssh_hosts: SshFleet, janitor: Janitor) -> Iterator[SshFleet]:
    """The module's SSH hosts; the environments on them are all gone before they stop."""
    try:
        yield ssh_hosts
    finally:
        janitor.finish()


@pytest.fixture(scope="module")
def fleet_env(fleet: SshFleet, janitor: Janitor) -> Iterator[Fleet]:
    """An environment on three SSH test hosts, deployed (1.0.0). The second host is reached
    through a LinkCut forwarder in front of its sshd, transparent until cut."""
    hosts = fleet(3)
    for host in hosts:
        open_up(host.root_dir)
    link = LinkCut((hosts[1].address, hosts[1].port), hosts[1].address)
    link.start()
    workdir = new_workdir()
    port = free_port()
    known = known_hosts_for(hosts, workdir / "known_hosts", {hosts[1].address: link.port})
    addresses = {hosts[1].address: f"root@{hosts[1].address}:{link.port}"}
    name = "fleet"
    config = ssh_settings(fleet, hosts, name, port, known, addresses)
    env = FaultEnv(
        make_repo(workdir / "repo", config),
        name,
        [h.root_dir for h in hosts],
        [f"http://{h.address}:{port}/healthz" for h in hosts],
        workdir / "home",
        hosts=hosts,
    )
    try:
        yield Fleet(env, link, "1.0.0", first_deploy(env))
    finally:
        link.stop()
        for root in env.roots:
            janitor.later(lambda root=root: discard_ssh_env(root, name))
        janitor.later(lambda: remove_tree(workdir))


def discard_ssh_env(root: Path, name: str) -> None:
    try:
        shutdown_env(root, name)
    finally:
        remove_tree(root / "reconcile" / name)
