"""Converge an environment after an interruption: operator killed, link lost, host restarted.

Run under the lock at the start of every deploy and rollback, and by `shipyard repair`:
1. deployments still recorded as running (their owner is gone: we hold the lock) become
   `interrupted`;
2. every host gets its supervisord, nginx and active slot back, and slots an interrupted
   deploy left booting are stopped (host operation `repair`);
3. hosts that disagree about the active release (a switch cut short) are all put on one:
   the newest release that deployed successfully, else the primary's.
"""

from __future__ import annotations

from typing import Any

from shipyard.execute.session import Session
from shipyard.plan import requests
from shipyard.plan.rollback import warm_slot


def choose_target(history: list[dict[str, Any]], actives: dict[str, str | None]) -> str | None:
    """Pure: the release every host should serve after an interrupted switch."""
    present = {release for release in actives.values() if release}
    for record in history:  # newest first
        if record["outcome"] == "succeeded" and record["release_id"] in present:
            return str(record["release_id"])
    return next(iter(actives.values()), None)


async def converge(
    session: Session, env_values: dict[str, str], current_deployment: str | None
) -> list[str]:
    """Bring every host to one consistent, serving state; return what was done."""
    env, primary = session.env, session.primary
    actions: list[str] = []
    history = (await primary.call("history", {"limit": 50}))["deployments"]
    for record in history:
        if record["outcome"] == "running" and record["id"] != current_deployment:
            await primary.call(
                "record",
                {
                    "action": "update",
                    "deployment_id": record["id"],
                    "outcome": "interrupted",
                    "error": "its operator stopped before it finished (killed or disconnected)",
                    "finished": True,
                },
            )
            actions.append(f"marked {record['kind']} {record['id']} interrupted")
    repaired = await session.each(
        "repair", lambda c: c.call("repair", requests.repair(env, c.entry)), quiet=True
    )
    for host, reply in repaired.items():
        actions += [f"{host}: {action}" for action in reply["actions"]]
    actives = {host: reply["active_release"] for host, reply in repaired.items()}
    if len(set(actives.values())) <= 1:
        return actions
    target = choose_target(history, actives)
    if target is None:
        return actions
    behind = [c for c in session.clients if actives[c.label] != target]
    statuses = await session.each("inspect", lambda c: c.call("status"), clients=behind, quiet=True)
    for client in behind:
        slot = warm_slot(statuses[client.label], target)
        if slot is None:
            booted = await client.call("boot", requests.boot(env, target, env_values))
            slot = str(booted["slot"])
            await client.call("check", requests.check(env, slot, target))
        await client.call("switch", requests.switch(env, client.entry, slot, target, retreat=True))
        actions.append(f"{client.label}: switched to {target} (was {actives[client.label]})")
    return actions


async def repair_environment(
    env: Any, env_values: dict[str, str], reporter: Any, lock_wait: float = 0.0
) -> list[str]:
    """`shipyard repair ENV`: under the lock, converge every host; return what was done."""
    from shipyard.execute import locking
    from shipyard.execute.identity import new_deployment_id

    session = Session(env, reporter)
    try:
        await session.open()
        repair_id = "repair-" + new_deployment_id()
        async with locking.held(
            session.primary, "repair", "repair", repair_id, lock_wait
        ) as taken_over:
            actions = []
            if taken_over:
                actions.append("took over a stale lock: " + locking.describe_lock(taken_over))
            return actions + await converge(session, env_values, None)
    finally:
        await session.close()
