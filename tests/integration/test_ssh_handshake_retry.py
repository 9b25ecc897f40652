"""A handshake sshd drops (past its MaxStartups) is tried again; a failed command is not.

A real sshd with `MaxStartups 1`: while one unauthenticated connection is open, sshd
drops every other new connection, as a busy server does under a fleet's burst of
handshakes. The blocking connection goes away once one of our handshakes was dropped.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from support.sshd import SshFleet, TestHost

from shipyard.transport.base import TransportError
from shipyard.transport.ssh import SshTransport

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def busy_host(ssh_hosts: SshFleet) -> TestHost:
    host = ssh_hosts(1)[0]
    host.stop()
    host.max_startups = "1"
    host.start()
    ssh_hosts.write_known_hosts()
    return host


class Blocker:
    """An unauthenticated connection holding sshd's one start-up slot, closed once
    `until()` is true (never, if None)."""

    def __init__(self, host: TestHost, until: Callable[[], bool] | None) -> None:
        self.host = host
        self.sock = self._hold()
        self.stopping = False
        self.thread = threading.Thread(target=self._release, args=(until,), daemon=True)
        self.thread.start()

    def _hold(self) -> socket.socket:
        """A connection sshd answered with its banner (in pre-auth, holding the slot);
        sshd may still count a connection that just went, so try again until it does."""
        deadline = time.monotonic() + 10
        while True:
            sock = socket.create_connection((self.host.address, self.host.port), timeout=5)
            try:
                banner = sock.recv(256)
            except OSError:
                banner = b""
            if banner.startswith(b"SSH-"):
                return sock
            sock.close()
            if time.monotonic() > deadline:
                raise RuntimeError("sshd never accepted the blocking connection")
            time.sleep(0.1)

    def _release(self, until: Callable[[], bool] | None) -> None:
        if until is None:
            return
        deadline = time.monotonic() + 30
        while not self.stopping and not until() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.sock.close()

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def blockers() -> Iterator[list[Blocker]]:
    held: list[Blocker] = []
    yield held
    for blocker in held:
        blocker.close()


def test_a_handshake_dropped_past_max_startups_is_tried_again_and_connects(
    busy_host: TestHost, ssh_hosts: SshFleet, blockers: list[Blocker]
) -> None:
    transport = SshTransport(
        busy_host.target, ssh_hosts.options(connect_attempts=6, retry_backoff=0.2)
    )
    blockers.append(Blocker(busy_host, until=lambda: transport.handshake_retries >= 1))

    async def go() -> str:
        await transport.connect()
        try:
            result = await transport.run(["echo", "in"])
        finally:
            await transport.close()
        return result.stdout

    assert asyncio.run(go()) == "in\n"
    assert transport.handshake_retries >= 1
    assert "past MaxStartups" in busy_host.log_file.read_text(errors="replace")


def test_without_retries_a_dropped_handshake_fails_saying_so(
    busy_host: TestHost, ssh_hosts: SshFleet, blockers: list[Blocker]
) -> None:
    blockers.append(Blocker(busy_host, until=None))
    transport = SshTransport(busy_host.target, ssh_hosts.options(connect_attempts=1))
    with pytest.raises(TransportError) as failed:
        asyncio.run(transport.connect())
    assert transport.handshake_retries == 0
    assert "dropped the SSH handshake" in failed.value.message
    assert "fleet.connect_attempts" in failed.value.hint


def test_a_command_that_fails_is_run_once_never_again(
    busy_host: TestHost, ssh_hosts: SshFleet
) -> None:
    transport = SshTransport(
        busy_host.target, ssh_hosts.options(connect_attempts=6, retry_backoff=0.2)
    )
    marker = busy_host.dir / "runs"
    marker.write_text("")

    async def go() -> int:
        try:
            result = await transport.run(["sh", "-c", f"echo run >> {marker}; exit 3"])
        finally:
            await transport.close()
        return result.exit_status

    assert asyncio.run(go()) == 3
    assert marker.read_text() == "run\n"
