"""Read-only views of an environment: status, history, releases, logs; and the lock."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from shipyard.config.model import Environment
from shipyard.execute import locking
from shipyard.execute.reporter import PlainReporter
from shipyard.execute.session import Session
from shipyard.plan import requests


def _session(env: Environment) -> Session:
    return Session(env, PlainReporter(stream=sys.stderr))


async def _open_primary(session: Session) -> None:
    await session.open(clients=[session.primary])


async def status(env: Environment) -> dict[str, Any]:
    session = _session(env)
    try:
        await session.open()
        replies = await session.each(
            "status", lambda c: c.call("status", {"health_path": env.health.path}), quiet=True
        )
        history = (await session.primary.call("history", {"limit": 1}))["deployments"]
    finally:
        await session.close()
    primary = replies[session.primary.label]
    return {
        "environment": env.name,
        "lock": primary.get("lock"),
        "last_deployment": history[0] if history else None,
        "hosts": [{"host": host} | reply for host, reply in replies.items()],
    }


async def history(env: Environment, limit: int) -> list[dict[str, Any]]:
    session = _session(env)
    try:
        await _open_primary(session)
        reply = await session.primary.call("history", {"limit": limit})
    finally:
        await session.close()
    return list(reply["deployments"])


async def releases(env: Environment) -> list[dict[str, Any]]:
    """Releases on the primary host, newest first, with their outcome and slot."""
    session = _session(env)
    try:
        await _open_primary(session)
        listing = await session.primary.call("releases")
        deployments = (await session.primary.call("history", {"limit": 500}))["deployments"]
    finally:
        await session.close()
    active_slot = listing["active_slot"]
    slot_of = {row["release_id"]: (slot, row["state"]) for slot, row in listing["slots"].items()}
    result = []
    for item in listing["releases"]:
        release_id = item["release_id"]
        last = next((d for d in deployments if d["release_id"] == release_id), None)
        slot, slot_state = slot_of.get(release_id, (None, None))
        manifest = item["manifest"]
        result.append(
            {
                "release_id": release_id,
                "commit": manifest.get("commit"),
                "commit_time": manifest.get("commit_time"),
                "built_at": manifest.get("built_at"),
                "dirty": manifest.get("dirty"),
                "gates": manifest.get("gates"),
                "digest": item["digest"],
                "status": item["status"],
                "last_outcome": last["outcome"] if last else None,
                "last_deployed_at": last["started_at"] if last else None,
                "active": slot == active_slot and slot is not None,
                "warm": slot_state == "warm",
                "rollback_target": item["status"] != "bad" and slot != active_slot,
            }
        )
    return result


async def lock_command(
    env: Environment, action: str, *, force: bool = False, reason: str = ""
) -> dict[str, Any]:
    session = _session(env)
    try:
        await _open_primary(session)
        primary = session.primary
        if action == "status":
            return dict((await primary.call("lock", {"action": "status"}))["lock"] or {})
        if action == "acquire":
            await locking.acquire(
                primary,
                locking.holder("lock acquire", reason or "held by hand", None),
                heartbeat=False,
                force=force,
            )
            return dict((await primary.call("lock", {"action": "status"}))["lock"] or {})
        released = await locking.release(primary, None, force=force)
        return dict(released or {})
    finally:
        await session.close()


async def logs(env: Environment, slot: str | None, lines: int, follow: bool) -> None:
    session = _session(env)
    try:
        await asyncio.gather(*(c.transport.connect() for c in session.clients))
        if not follow:
            replies = await session.each(
                "logs", lambda c: c.call("logs", {"slot": slot, "lines": lines}), quiet=True
            )
            for host, reply in replies.items():
                for line in reply["lines"]:
                    print(f"{host} [{reply['slot']}] {line}")
            return

        async def stream(client: Any) -> None:
            request = requests.base(env, client.entry) | {
                "slot": slot,
                "lines": lines,
                "follow": True,
            }
            argv = [
                *requests.host_argv(env, client.entry, "logs"),
                "--request",
                json.dumps(request),
            ]
            async for line in client.transport.stream(argv):
                print(f"{client.label} {line}", flush=True)

        await asyncio.gather(*(stream(c) for c in session.clients))
    finally:
        await session.close()
