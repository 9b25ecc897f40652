"""Drills: recovery rehearsed, the real time recorded in the environment's primary
(`drills` table), so `status` shows the last drill of each kind and its result.

    rollback  roll back to the predecessor, then forward again: the time to restore
              service is the rollback's (run it on staging)
    restore   restore the newest snapshot of every source into scratch and verify it
    recover   `recover` onto a scratch host with scratch databases, then tear both down

Every drill goes through the pipeline, like everything that changes an environment.
A failed drill is recorded too (that is what drills are for), then reported.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from shipyard.config.loader import ConfigFile, resolve_secrets
from shipyard.config.model import Environment
from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute import backup, pipeline
from shipyard.execute import recover as recovery
from shipyard.execute.identity import new_deployment_id
from shipyard.execute.session import Session
from shipyard.plan import drills as plan
from shipyard.plan import recover as recover_plan
from shipyard.plan.backup import backup_of
from shipyard.protocol.drills import (
    DRILL_DATABASE,
    DRILL_TEARDOWN,
    DrillDatabaseRequest,
    DrillRecord,
    DrillTeardownRequest,
)
from shipyard.protocol.op import Empty
from shipyard.protocol.records import RELEASES


class DrillFailed(ShipyardError):
    """A drill did not recover: recorded as failed; the message says where it broke."""

    exit_code = ExitCode.FAILED


@asynccontextmanager
async def _primary(runtime: pipeline.Runtime, env: Environment) -> AsyncIterator[Session]:
    async with pipeline.primary_session(runtime, env) as session:
        yield session


async def _recorded(
    config: ConfigFile,
    env_name: str,
    runtime: pipeline.Runtime,
    kind: str,
    body: Callable[[dict[str, float]], Awaitable[tuple[str, float | None]]],
) -> DrillRecord:
    """Run a drill's `body` (it fills in the steps, returns a detail line and the time
    to recover), then record it, failed or not, in the primary's `drills` table."""
    env = config.environment(env_name)
    steps: dict[str, float] = {}
    started = time.time()
    try:
        detail, seconds = await body(steps)
        ok, error = True, None
    except ShipyardError as exc:
        detail, seconds, ok, error = f"FAILED: {exc.message}", None, False, exc
    async with _primary(runtime, env) as session:
        entry = await recovery.record(
            session, kind, True, started, steps, ok=ok, detail=detail, seconds=seconds
        )
    if error is not None:
        raise DrillFailed(
            f"drill {kind} of {env_name} failed (recorded): {error.message}", hint=error.hint
        )
    return entry


async def drill_rollback(
    config: ConfigFile, env_name: str, runtime: pipeline.Runtime
) -> DrillRecord:
    """Roll back to the predecessor and forward again; the time to restore service is
    the rollback's, until traffic is on the predecessor and verified."""

    async def body(steps: dict[str, float]) -> tuple[str, float | None]:
        env = config.environment(env_name)
        async with _primary(runtime, env) as session:
            listing = await session.primary.call(RELEASES, Empty())
        row = listing.slots.get(listing.active_slot) if listing.active_slot else None
        if row is None or row.release_id is None:
            raise DrillFailed(f"{env_name} serves nothing yet: deploy it first")
        current = row.release_id
        clock = time.monotonic()
        back = await pipeline.rollback(config, env_name, runtime, message="drill rollback")
        steps["rollback"] = round(time.monotonic() - clock, 3)
        clock = time.monotonic()
        await pipeline.rollback(
            config, env_name, runtime, release=current, message="drill rollback: forward again"
        )
        steps["forward"] = round(time.monotonic() - clock, 3)
        how = "warm" if back.warm else "cold"
        return (
            f"service restored on {back.release_id} ({how}) in {steps['rollback']:.2f}s, "
            f"then forward to {current}",
            steps["rollback"],
        )

    return await _recorded(config, env_name, runtime, "rollback", body)


async def drill_restore(
    config: ConfigFile, env_name: str, runtime: pipeline.Runtime
) -> DrillRecord:
    """Restore the newest snapshot of every source into scratch and verify it."""

    async def body(steps: dict[str, float]) -> tuple[str, float | None]:
        results = await backup.verify(config, env_name, runtime.reporter, None)
        for r in results:
            steps[r.source] = r.seconds
        failed = [f"{r.source} {r.snapshot_id}: {r.detail}" for r in results if not r.ok]
        if failed:
            raise DrillFailed("; ".join(failed))
        if not results:
            raise DrillFailed(f"{env_name} has no snapshot to restore: run `shipyard backup run`")
        return "verified " + ", ".join(f"{r.source} {r.snapshot_id}" for r in results), None

    return await _recorded(config, env_name, runtime, "restore", body)


async def drill_recover(
    config: ConfigFile,
    env_name: str,
    runtime: pipeline.Runtime,
    *,
    to: str,
    root: str | None = None,
    listen: str | None = None,
) -> DrillRecord:
    """`recover` onto the scratch host `to`, its databases restored into scratch
    databases on the same servers; then everything there is torn down."""

    async def body(steps: dict[str, float]) -> tuple[str, float | None]:
        env = config.environment(env_name)
        target = recover_plan.target_environment(env, to, root, listen)
        secrets = resolve_secrets(target, config.path)
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        scratch = plan.scratch_secrets(backup_of(env), secrets, stamp) if env.backup else {}
        deployment_id = "drill-" + new_deployment_id()
        databases = list(scratch.values())
        await _on_host(target, runtime, secrets, _create(databases))
        try:
            result = await pipeline.recover(
                config,
                env_name,
                runtime,
                to=to,
                root=root,
                listen=listen,
                drill=True,
                secret_overrides=scratch,
                deployment_id=deployment_id,
            )
        finally:
            clock = time.monotonic()
            try:
                await _on_host(target, runtime, secrets, _teardown(deployment_id, databases))
            except ShipyardError as exc:  # said, never hiding how the drill itself went
                runtime.reporter.info(f"warning: tearing down {to} failed: {exc.message}")
            steps_teardown = round(time.monotonic() - clock, 3)
        steps |= result.steps
        steps["teardown"] = steps_teardown
        return recovery.summary(result) + "; torn down", result.seconds

    return await _recorded(config, env_name, runtime, "recover", body)


HostStep = Callable[[Session], Awaitable[None]]


async def _on_host(
    env: Environment, runtime: pipeline.Runtime, secrets: dict[str, str], step: HostStep
) -> None:
    session = Session(env, runtime.reporter, secrets=list(secrets.values()), hosts=runtime.hosts)
    try:
        await session.open()
        await step(session)
    finally:
        await session.close()


def _create(databases: list[str]) -> HostStep:
    async def step(session: Session) -> None:
        for url in databases:
            await session.primary.call(DRILL_DATABASE, DrillDatabaseRequest(url, True, 600))

    return step


def _teardown(deployment_id: str, databases: list[str]) -> HostStep:
    """Stop and remove the scratch host's environment, drop the scratch databases."""

    async def step(session: Session) -> None:
        # a process of its own: the resident agent is one of the things it stops
        request = DrillTeardownRequest(deployment_id)
        await session.primary.call(DRILL_TEARDOWN, request, timeout=120, oneshot=True)
        for url in databases:  # one-shot too: the agent this session had is gone
            drop = DrillDatabaseRequest(url, False, 600)
            await session.primary.call(DRILL_DATABASE, drop, timeout=660, oneshot=True)

    return step
