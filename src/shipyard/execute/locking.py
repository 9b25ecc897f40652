"""Take, hold and give back the environment's lock on the primary host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute.hostclient import Host, HostError
from shipyard.execute.identity import actor
from shipyard.execute.session import Session
from shipyard.protocol.common import LockHolder, LockInfo
from shipyard.protocol.lock import (
    LOCK_ACQUIRE,
    LOCK_REFRESH,
    LOCK_RELEASE,
    LockAcquireRequest,
    LockRefreshRequest,
    LockReleaseRequest,
)

HEARTBEAT_SECONDS = 10.0


class LockHeld(ShipyardError):
    """Someone else holds the lock (exit 3)."""

    exit_code = ExitCode.LOCKED

    def __init__(self, lock: LockInfo) -> None:
        super().__init__(
            f"the environment is busy: {describe_lock(lock)}",
            hint="wait, or pass --lock-wait SECONDS",
        )
        self.lock = lock


def describe_lock(lock: LockInfo) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(lock.acquired_at))
    stale = (
        " [STALE: its owner is gone; the next deploy, rollback or repair takes it over, "
        "or `shipyard lock release ENV --force` clears it]"
    )
    return (
        f"locked by {lock.actor} from {lock.operator_host} (pid {lock.pid}) "
        f"since {when}: {lock.command}: {lock.reason}" + (stale if lock.stale else "")
    )


def holder(command: str, reason: str, deployment_id: str | None) -> LockHolder:
    return LockHolder(
        actor=actor(),
        operator_host=socket.gethostname(),
        pid=os.getpid(),
        reason=reason,
        command=command,
        deployment_id=deployment_id,
    )


async def acquire(
    primary: Host,
    owner: LockHolder,
    *,
    wait: float = 0.0,
    heartbeat: bool = True,
    force: bool = False,
) -> LockInfo | None:
    """Take the lock, waiting up to `wait` seconds; return the stale lock taken over, if any."""
    deadline = time.monotonic() + wait
    request = LockAcquireRequest(holder=owner, heartbeat=heartbeat, force=force)
    while True:
        reply = await primary.call(LOCK_ACQUIRE, request)
        if reply.acquired:
            return reply.taken_over
        if time.monotonic() >= deadline:
            assert reply.lock is not None
            raise LockHeld(reply.lock)
        await asyncio.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


async def release(primary: Host, deployment_id: str | None, force: bool = False) -> LockInfo | None:
    request = LockReleaseRequest(deployment_id=deployment_id, force=force, actor=actor())
    return (await primary.call(LOCK_RELEASE, request)).released


@asynccontextmanager
async def held(
    primary: Host, command: str, reason: str, deployment_id: str, wait: float
) -> AsyncIterator[LockInfo | None]:
    """Hold the lock for a command: heartbeat while held, always release at the end.

    Yields the stale lock this command took over (its owner died), if any.
    """
    taken_over = await acquire(primary, holder(command, reason, deployment_id), wait=wait)

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(HostError):
                await primary.call(
                    LOCK_REFRESH, LockRefreshRequest(deployment_id=deployment_id), oneshot=True
                )

    task = asyncio.create_task(beat())
    try:
        yield taken_over
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(HostError):
            await release(primary, deployment_id)


@asynccontextmanager
async def locked_session(
    session: Session, *, command: str, reason: str, deployment_id: str, lock_wait: float
) -> AsyncIterator[Session]:
    """The one way deploy, rollback and repair open their hosts: connect to every host
    (checking its version), take the environment's lock (taking over a dead command's),
    heartbeat while held; release the lock and close every connection at the end."""
    try:
        await session.open()
        async with held(session.primary, command, reason, deployment_id, lock_wait) as taken:
            if taken is not None:
                session.reporter.info("took over a stale lock: " + describe_lock(taken))
            yield session
    finally:
        await session.close()
