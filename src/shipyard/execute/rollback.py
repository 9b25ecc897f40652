"""Rollback: one switch while the old slot is warm; otherwise boot, check, switch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shipyard.config.model import Environment
from shipyard.execute import locking
from shipyard.execute.converge import converge
from shipyard.execute.deploy import (
    DeployFailed,
    _error_text,
    _switch_back,
    _undo,
    boot_and_check,
)
from shipyard.execute.hostclient import HostClient, HostError
from shipyard.execute.identity import actor, new_deployment_id
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import PhaseFailed, Session
from shipyard.plan import requests
from shipyard.plan.rollback import NoRollbackTarget, previous_good_release, warm_slot


@dataclass(frozen=True)
class RollbackResult:
    deployment_id: str
    release_id: str
    previous_release: str | None
    warm: bool
    timings: dict[str, float]


async def rollback(
    env: Environment,
    release: str | None,
    reporter: Reporter,
    *,
    env_values: dict[str, str] | None = None,
    lock_wait: float = 0.0,
    message: str = "",
    trigger: str = "rollback",
) -> RollbackResult:
    """Roll `env` back to `release` (default: the previous good one).

    `env_values` are the variables (secrets included) a cold rollback boots with; the CLI
    resolves them from shipyard.yml. None means `env.env` alone (an app without secrets).
    """
    env_values = env.env if env_values is None else env_values
    session = Session(env, reporter)
    try:
        await session.open()
        deployment_id = new_deployment_id()
        reason = message or f"rollback to {release or 'previous good release'}"
        async with locking.held(
            session.primary, "rollback", reason, deployment_id, lock_wait
        ) as taken_over:
            if taken_over:
                reporter.info("took over a stale lock: " + locking.describe_lock(taken_over))
            for action in await converge(session, env_values, deployment_id):
                reporter.info(f"repaired: {action}")
            return await _rollback_locked(
                session, release, deployment_id, message, trigger, env_values
            )
    except PhaseFailed as failed:
        if failed.phase == "connect":
            raise  # unreachable hosts: exit code 4, nothing was touched
        raise DeployFailed(
            f"rollback {failed.phase} failed on " + ", ".join(e.host for e in failed.errors),
            failed.errors,
        ) from None
    except HostError as exc:
        raise DeployFailed(str(exc), [exc]) from None
    finally:
        await session.close()


async def _rollback_locked(
    session: Session,
    release: str | None,
    deployment_id: str,
    message: str,
    trigger: str,
    env_values: dict[str, str],
) -> RollbackResult:
    env, primary = session.env, session.primary
    listing = await primary.call("releases")
    history = (await primary.call("history", {"limit": 200}))["deployments"]
    present = {r["release_id"] for r in listing["releases"]}
    bad = {r["release_id"] for r in listing["releases"] if r["status"] == "bad"}
    active = next(
        (
            row["release_id"]
            for slot, row in listing["slots"].items()
            if slot == listing["active_slot"]
        ),
        None,
    )
    if release is None:
        try:
            release = previous_good_release(history, active, bad, present)
        except NoRollbackTarget as exc:
            raise DeployFailed(str(exc)) from None
    elif release not in present:
        raise DeployFailed(
            f"release {release} is not on {primary.label} (removed by cleanup or never deployed); "
            "see `shipyard releases ENV` for what can be rolled back to"
        )
    if release == active:
        raise DeployFailed(f"release {release} is already active; nothing to roll back")
    target: str = release
    statuses = await session.each("inspect", lambda c: c.call("status"), quiet=True)
    warm_slots = {host: warm_slot(status, target) for host, status in statuses.items()}
    warm = all(slot is not None for slot in warm_slots.values())
    await primary.call(
        "record",
        {
            "action": "start",
            "deployment": {
                "id": deployment_id,
                "kind": "rollback",
                "release_id": target,
                "previous_release_id": active,
                "commit_sha": _commit_of(listing, target),
                "commit_time": _commit_time_of(listing, target),
                "trigger": trigger,
                "actor": actor(),
                "message": message,
                "hosts": [c.label for c in session.clients],
                "started_at": time.time(),
            },
        },
    )
    slots: dict[str, str] = {}
    switched: dict[str, dict[str, Any]] = {}
    try:
        if warm:
            slots = {host: slot for host, slot in warm_slots.items() if slot}
            await session.each(
                "check",
                lambda c: c.call("check", requests.check(env, slots[c.label], target, warm=True)),
            )
        else:
            await boot_and_check(session, target, env_values, slots)

        async def switch(client: HostClient) -> dict[str, Any]:
            reply = await client.call(
                "switch",
                requests.switch(env, client.entry, slots[client.label], target, retreat=True),
            )
            switched[client.label] = reply
            return reply

        try:
            await session.each("switch", switch)
        except PhaseFailed:
            await _switch_back(session, switched)
            raise
        await session.each(
            "verify", lambda c: c.call("verify", requests.verify(env, c.entry, target))
        )
    except PhaseFailed as failed:
        if not warm:
            await _undo(session, slots, switched)
        elif switched:
            await _switch_back(session, switched)
        await primary.call(
            "record",
            {
                "action": "update",
                "deployment_id": deployment_id,
                "phases": session.timings,
                "outcome": "failed",
                "error": _error_text(failed),
                "finished": True,
            },
        )
        raise
    await primary.call(
        "record",
        {
            "action": "update",
            "deployment_id": deployment_id,
            "phases": session.timings,
            "outcome": "succeeded",
            "finished": True,
        },
    )
    return RollbackResult(deployment_id, target, active, warm, dict(session.timings))


def _commit_of(listing: dict[str, Any], release_id: str) -> str | None:
    for item in listing["releases"]:
        if item["release_id"] == release_id:
            return str(item["manifest"].get("commit"))
    return None


def _commit_time_of(listing: dict[str, Any], release_id: str) -> str | None:
    for item in listing["releases"]:
        if item["release_id"] == release_id:
            return str(item["manifest"].get("commit_time"))
    return None
