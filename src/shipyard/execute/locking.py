"""Take, hold and give back the environment's lock on the primary host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from shipyard.execute.hostclient import HostClient, HostError
from shipyard.execute.identity import actor

HEARTBEAT_SECONDS = 10.0


@dataclass
class LockHeld(Exception):
    """Someone else holds the lock."""

    holder: dict[str, Any]

    def __str__(self) -> str:
        return describe_lock(self.holder)


def describe_lock(lock: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(lock["acquired_at"]))
    stale = (
        " [STALE: its owner is gone; the next deploy, rollback or repair takes it over, "
        "or `shipyard lock release ENV --force` clears it]"
    )
    return (
        f"locked by {lock['actor']} from {lock['operator_host']} (pid {lock['pid']}) "
        f"since {when}: {lock['command']}: {lock['reason']}" + (stale if lock.get("stale") else "")
    )


def holder(command: str, reason: str, deployment_id: str | None) -> dict[str, Any]:
    return {
        "actor": actor(),
        "operator_host": socket.gethostname(),
        "pid": os.getpid(),
        "reason": reason,
        "command": command,
        "deployment_id": deployment_id,
    }


async def acquire(
    primary: HostClient,
    owner: dict[str, Any],
    *,
    wait: float = 0.0,
    heartbeat: bool = True,
    force: bool = False,
) -> dict[str, Any] | None:
    """Take the lock, waiting up to `wait` seconds; return the stale lock taken over, if any."""
    deadline = time.monotonic() + wait
    while True:
        reply = await primary.call(
            "lock", {"action": "acquire", "holder": owner, "heartbeat": heartbeat, "force": force}
        )
        if reply["acquired"]:
            taken: dict[str, Any] | None = reply.get("taken_over")
            return taken
        if time.monotonic() >= deadline:
            raise LockHeld(reply["lock"])
        await asyncio.sleep(min(1.0, max(0.05, deadline - time.monotonic())))


async def release(primary: HostClient, deployment_id: str | None, force: bool = False) -> Any:
    reply = await primary.call(
        "lock",
        {"action": "release", "deployment_id": deployment_id, "force": force, "actor": actor()},
    )
    return reply["released"]


@asynccontextmanager
async def held(
    primary: HostClient, command: str, reason: str, deployment_id: str, wait: float
) -> AsyncIterator[dict[str, Any] | None]:
    """Hold the lock for a deploy: heartbeat while held, always release at the end.

    Yields the stale lock this deploy took over (its owner died), if any.
    """
    taken_over = await acquire(primary, holder(command, reason, deployment_id), wait=wait)

    async def beat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            with contextlib.suppress(HostError):
                await primary.call(
                    "lock", {"action": "refresh", "deployment_id": deployment_id}, oneshot=True
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
