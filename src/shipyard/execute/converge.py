"""Converge an environment after an interruption: operator killed, link lost, host restarted.

Run under the lock at the start of every deploy and rollback, and by `shipyard repair`:
1. deployments still recorded as running (their owner is gone: we hold the lock) become
   `interrupted`;
2. every host gets its supervisord, nginx (pointing at the active slot) and active slot
   back, and slots an interrupted deploy left booting are stopped (host operation
   `repair`);
3. hosts that disagree about the active release (a switch cut short) are all put on one:
   the newest release that deployed successfully, else the primary's.

Each host's active release is repaired, and a release booted again, with the runtime spec
recorded with it (its health path, workers, start command), not the one the command is
about to deploy; where stays the session's.
"""

from __future__ import annotations

from shipyard.config.model import Environment
from shipyard.execute.release_runtime import recorded_env
from shipyard.execute.session import Session
from shipyard.plan import requests
from shipyard.plan.rollback import converge_target, warm_slot
from shipyard.protocol.boot import BOOT, CHECK
from shipyard.protocol.inspect import STATUS
from shipyard.protocol.maintenance import REPAIR
from shipyard.protocol.op import Empty
from shipyard.protocol.records import (
    HISTORY,
    RECORD_UPDATE,
    RELEASES,
    HistoryRequest,
    RecordUpdateRequest,
)
from shipyard.protocol.switch import SWITCH

HISTORY_DEPTH = 50


async def converge(
    session: Session, env_values: dict[str, str], current_deployment: str | None
) -> list[str]:
    """Bring every host to one consistent, serving state; return what was done."""
    env, primary = session.env, session.primary
    actions: list[str] = []
    history = (await primary.call(HISTORY, HistoryRequest(limit=HISTORY_DEPTH))).deployments
    for record in history:
        if record.outcome == "running" and record.id != current_deployment:
            await primary.call(
                RECORD_UPDATE,
                RecordUpdateRequest(
                    deployment_id=record.id,
                    phases=None,
                    outcome="interrupted",
                    error="its operator stopped before it finished (killed or disconnected)",
                    previous_release_id=None,
                    analysis=None,
                    checks=None,
                    finished=True,
                ),
            )
            actions.append(f"marked {record.kind} {record.id} interrupted")
    listings = await session.each("inspect", lambda h: h.call(RELEASES, Empty()), quiet=True)

    def running(label: str, release_id: str | None = None) -> Environment:
        """The session's where, with what `release_id` (default: the active one) runs."""
        return recorded_env(env, listings[label], release_id)

    repaired = await session.each(
        "repair", lambda h: h.call(REPAIR, requests.repair(running(h.label), h.entry)), quiet=True
    )
    for label, reply in repaired.items():
        actions += [f"{label}: {action}" for action in reply.actions]
    actives = {label: reply.active_release for label, reply in repaired.items()}
    if len(set(actives.values())) <= 1:
        return actions
    target = converge_target(history, actives)
    if target is None:
        return actions
    behind = [h for h in session.hosts if actives[h.label] != target]
    statuses = await session.each(
        "inspect", lambda h: h.call(STATUS, requests.status(env)), hosts=behind, quiet=True
    )
    for host in behind:
        runs = running(session.primary.label, target)
        slot = warm_slot(statuses[host.label], target)
        if slot is None:
            values = runs.env | {k: v for k, v in env_values.items() if k in runs.secrets}
            booted = await host.call(BOOT, requests.boot(runs, target, values))
            slot = booted.slot
            await host.call(
                CHECK, requests.check(runs, slot, target), timeout=requests.check_timeout(runs)
            )
        await host.call(SWITCH, requests.switch(runs, host.entry, slot, target, retreat=True))
        actions.append(f"{host.label}: switched to {target} (was {actives[host.label]})")
    return actions
