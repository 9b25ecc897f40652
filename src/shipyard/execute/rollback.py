"""Rollback, under the lock: one switch while the old slot is warm; otherwise boot,
check, switch. Called through the pipeline (`shipyard.execute.pipeline.rollback`).

A warm rollback that the hosts' status proves safe (`plan.rollback.warm_rollback`)
goes straight to the switch: no history read and no converge before traffic moves.
Anything else takes the full path: converge, the history, maybe a cold boot.
"""

from __future__ import annotations

import time

from shipyard.core import timing
from shipyard.execute import phases
from shipyard.execute.identity import actor
from shipyard.execute.outcomes import RollbackFailed, RollbackResult
from shipyard.execute.records import Recorder
from shipyard.execute.session import PhaseFailed, Session
from shipyard.plan import requests
from shipyard.plan.rollback import previous_good_release, warm_rollback, warm_slot
from shipyard.protocol.common import DeploymentStart, ReleaseInfo
from shipyard.protocol.inspect import STATUS
from shipyard.protocol.op import Empty
from shipyard.protocol.records import HISTORY, RELEASES, HistoryRequest

ROLLBACK_HISTORY = 200


async def warm_rollback_locked(
    session: Session, release: str | None, deployment_id: str, message: str, trigger: str
) -> RollbackResult | None:
    """The warm rollback, if every host's status proves it safe (see `warm_rollback`):
    status (no probes) and the primary's release listing, then record, check, switch.
    None: the caller takes the full path (`rollback_locked`, after converging)."""
    env = session.env
    statuses = await session.each(
        "inspect", lambda h: h.call(STATUS, requests.status(env, probe=False)), quiet=True
    )
    listing = await session.primary.call(RELEASES, Empty())
    decided = warm_rollback(statuses, listing.releases, release)
    if decided is None:
        return None
    return await _run(
        session,
        decided.release_id,
        decided.previous_release,
        decided.slots,
        _info(listing.releases, decided.release_id),
        deployment_id,
        message,
        trigger,
        {},
    )


async def rollback_locked(
    session: Session,
    release: str | None,
    deployment_id: str,
    message: str,
    trigger: str,
    env_values: dict[str, str],
) -> RollbackResult:
    env, primary = session.env, session.primary
    listing = await primary.call(RELEASES, Empty())
    history = (await primary.call(HISTORY, HistoryRequest(limit=ROLLBACK_HISTORY))).deployments
    present = {r.release_id for r in listing.releases}
    bad = {r.release_id for r in listing.releases if r.status == "bad"}
    active_row = listing.slots.get(listing.active_slot) if listing.active_slot else None
    active = active_row.release_id if active_row else None
    if release is None:
        release = previous_good_release(history, active, bad, present)
    elif release not in present:
        raise RollbackFailed(
            f"release {release} is not on {primary.label} (removed by cleanup or never deployed)",
            hint="see `shipyard releases ENV` for what can be rolled back to",
        )
    if release == active:
        raise RollbackFailed(f"release {release} is already active; nothing to roll back")
    target: str = release
    statuses = await session.each(
        "inspect", lambda h: h.call(STATUS, requests.status(env)), quiet=True
    )
    warm_slots = {host: warm_slot(status, target) for host, status in statuses.items()}
    slots: phases.Slots | None = None
    if all(slot is not None for slot in warm_slots.values()):
        slots = {host: slot for host, slot in warm_slots.items() if slot}
    info = _info(listing.releases, target)
    return await _run(
        session, target, active, slots, info, deployment_id, message, trigger, env_values
    )


async def _run(
    session: Session,
    target: str,
    active: str | None,
    warm_slots: phases.Slots | None,
    info: ReleaseInfo | None,
    deployment_id: str,
    message: str,
    trigger: str,
    env_values: dict[str, str],
) -> RollbackResult:
    """Record the start, then one switch (warm: `warm_slots`) or boot, check and switch;
    verify; record the outcome. On failure traffic goes back to `active`."""
    warm = warm_slots is not None
    recorder = Recorder(session, deployment_id)
    await recorder.start(
        DeploymentStart(
            id=deployment_id,
            kind="rollback",
            release_id=target,
            previous_release_id=active,
            commit_sha=info.manifest.commit if info else None,
            commit_time=info.manifest.commit_time if info else None,
            trigger=trigger,
            actor=actor(),
            message=message,
            hosts=[h.label for h in session.hosts],
            started_at=time.time(),
            promoted_from=None,
        )
    )
    slots: phases.Slots = dict(warm_slots or {})
    switched: phases.Switched = {}
    try:
        if warm:
            await phases.check_warm(session, target, slots)
        else:
            await phases.boot_and_check(session, target, env_values, slots)
        await phases.switch_all(session, slots, target, switched, retreat=True)
        timing.mark("traffic moved")
        await phases.verify(session, target)
    except PhaseFailed as failed:
        if not warm:
            await phases.undo(session, slots, switched)
        elif switched:
            await phases.switch_back(session, switched)
        await recorder.finish("failed", failed.error_text())
        raise RollbackFailed(f"rollback {failed}", failed.errors) from None
    await recorder.finish("succeeded")
    return RollbackResult(deployment_id, target, active, warm, dict(session.timings))


def _info(releases: list[ReleaseInfo], release_id: str) -> ReleaseInfo | None:
    return next((r for r in releases if r.release_id == release_id), None)
