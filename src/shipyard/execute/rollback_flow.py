"""`shipyard rollback`: the pipeline's rollback (`shipyard.execute.pipeline.rollback`).

Its own module so that a rollback imports what a rollback runs and not the deploy's
build, gates and hooks (start-up: docs/benchmarks-speed.md). The backup modules load
only for an environment with backups, converge only for a rollback that is not one
switch.
"""

from __future__ import annotations

from dataclasses import replace

from shipyard.config.loader import ConfigFile, resolve_secrets
from shipyard.execute import locking
from shipyard.execute.identity import new_deployment_id
from shipyard.execute.outcomes import RollbackFailed, RollbackResult
from shipyard.execute.rollback import rollback_locked, warm_rollback_locked
from shipyard.execute.runner import Runtime
from shipyard.execute.session import Session
from shipyard.protocol.op import Empty
from shipyard.protocol.records import RELEASES


async def rollback(
    config: ConfigFile,
    env_name: str,
    runtime: Runtime,
    *,
    release: str | None = None,
    message: str = "",
    lock_wait: float = 0.0,
    restore_data: bool = False,
    yes: bool = False,
) -> RollbackResult:
    """Go back to `release` (default: the previous good one): one switch while its slot
    is warm, else boot, check, switch. A cold one boots the runtime spec recorded with
    the release, with secret values read here now; `env` and `secrets` are the working
    tree's, for converging and for a release recorded without a spec.

    A warm rollback whose safety the hosts' status proves moves traffic before anything
    else (no converge, no history read); otherwise converge first, then decide.

    Data is never restored silently: if the deployment being left took a pre-migration
    backup, the result's notes say so, with what was written since; `restore_data`
    (confirmed on a terminal, or `yes`) restores it after the switch."""
    env = config.environment(env_name)
    secrets = resolve_secrets(env, config.path)
    deployment_id = new_deployment_id()
    reason = message or f"rollback to {release or 'previous good release'}"
    session = runtime.session(env, list(secrets.values()))
    async with locking.locked_session(
        session, command="rollback", reason=reason, deployment_id=deployment_id, lock_wait=lock_wait
    ):
        values = env.env | secrets
        notice = None
        if env.backup is not None:  # said before anything moves, warm or cold
            from shipyard.execute import premigration

            notice = await premigration.pre_migration_notice(
                session, values, await _active(session)
            )
        if restore_data:
            if notice is None:
                raise RollbackFailed(
                    "--restore-data: the deployment being rolled back took no pre-migration "
                    "backup; nothing was changed",
                    hint="pick a snapshot from `shipyard backup list ENV` and "
                    "`shipyard backup restore ENV SNAPSHOT`",
                )
            from shipyard.execute import premigration

            premigration.confirm_restore(notice, env.name, runtime.approver, yes)
        result = await warm_rollback_locked(session, release, deployment_id, message, "rollback")
        if result is None:
            from shipyard.execute.converge import converge

            for action in await converge(session, values, deployment_id):
                runtime.reporter.info(f"repaired: {action}")
            result = await rollback_locked(
                session,
                release,
                deployment_id,
                message,
                "rollback",
                values,
                secrets_for=lambda chosen: resolve_secrets(chosen, config.path),
            )
        if notice is None:
            return result
        if not restore_data:
            return replace(result, notes=notice.lines(env.name))
        from shipyard.execute import premigration

        restored = await premigration.restore_pre_migration(session, values, notice)
        return replace(
            result,
            notes=[
                f"restored {r.source} from pre-migration snapshot {r.snapshot_id} "
                f"in {r.seconds:.1f}s, read from {r.read_from}"
                for r in restored
            ],
        )


async def _active(session: Session) -> str | None:
    listing = await session.primary.call(RELEASES, Empty())
    row = listing.slots.get(listing.active_slot) if listing.active_slot else None
    return row.release_id if row else None
