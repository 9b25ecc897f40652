"""Rollback, under the lock: one switch while the old slot is warm; otherwise boot,
check, switch. Called through the pipeline (`shipyard.execute.pipeline.rollback`).

A warm rollback that the hosts' status proves safe (`plan.rollback.warm_rollback`)
goes straight to the switch: no history read and no converge before traffic moves.
Anything else takes the full path: converge, the history, maybe a cold boot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shipyard.config.model import Environment
from shipyard.config.runtime import spec_from_json, spec_of, with_spec
from shipyard.core import timing
from shipyard.execute import phases
from shipyard.execute.identity import actor
from shipyard.execute.outcomes import RollbackFailed, RollbackResult
from shipyard.execute.records import Recorder
from shipyard.execute.session import PhaseFailed, Session
from shipyard.plan import requests
from shipyard.plan.rollback import previous_good_release, warm_rollback, warm_slot
from shipyard.plan.runtime_diff import differences
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
    info = _info(listing.releases, decided.release_id)
    runtime, _ = _use_recorded_runtime(session, info, {}, None)
    return await _run(
        session,
        decided.release_id,
        decided.previous_release,
        decided.slots,
        info,
        deployment_id,
        message,
        trigger,
        {},
        runtime,
    )


async def rollback_locked(
    session: Session,
    release: str | None,
    deployment_id: str,
    message: str,
    trigger: str,
    env_values: dict[str, str],
    secrets_for: Callable[[Environment], dict[str, str]] | None = None,
) -> RollbackResult:
    """`env_values` are the working tree's; a release recorded with its runtime spec
    boots (or is checked) with that spec, and the secrets `secrets_for` reads for it."""
    primary = session.primary
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
    info = _info(listing.releases, target)
    runtime, env_values = _use_recorded_runtime(session, info, env_values, secrets_for)
    env = session.env
    statuses = await session.each(
        "inspect", lambda h: h.call(STATUS, requests.status(env)), quiet=True
    )
    warm_slots = {host: warm_slot(status, target) for host, status in statuses.items()}
    slots: phases.Slots | None = None
    if all(slot is not None for slot in warm_slots.values()):
        slots = {host: slot for host, slot in warm_slots.items() if slot}
    return await _run(
        session, target, active, slots, info, deployment_id, message, trigger, env_values, runtime
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
    runtime: dict[str, Any],
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
            runtime=runtime,
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


def _use_recorded_runtime(
    session: Session,
    info: ReleaseInfo | None,
    env_values: dict[str, str],
    secrets_for: Callable[[Environment], dict[str, str]] | None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Point the session at the spec recorded with the release (where stays the
    operator's); return the history's runtime record and the values to boot with."""
    working = session.env
    spec = spec_from_json(info.runtime) if info else None
    if spec is None:
        session.reporter.info(
            f"warning: release {info.release_id if info else '?'} was recorded without its "
            "runtime spec (older Shipyard); it boots with the working tree's"
        )
        return {"source": "working-tree", "digest": spec_of(working).digest, "differs": []}, (
            env_values
        )
    found = differences(spec_of(working), spec)
    if found:
        session.reporter.info("the working tree's file differs from what this release ran with:")
        for difference in found:
            session.reporter.info(f"  {difference.describe()}")
        session.reporter.info("using the runtime recorded with the release")
    session.env = with_spec(working, spec)
    values = dict(spec.env)
    if secrets_for is not None:
        secrets = secrets_for(session.env)
        session.secrets += [v for v in secrets.values() if v not in session.secrets]
        values |= secrets
    else:
        values |= {k: v for k, v in env_values.items() if k in spec.secrets}
    record = {"source": "recorded", "digest": spec.digest, "differs": [d.key for d in found]}
    return record, values


def _info(releases: list[ReleaseInfo], release_id: str) -> ReleaseInfo | None:
    return next((r for r in releases if r.release_id == release_id), None)
