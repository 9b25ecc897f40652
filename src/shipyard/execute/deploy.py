"""The deploy: PREPARE, BOOT, CHECK, barrier, SWITCH, VERIFY, RETIRE, CLEANUP.

Every phase runs on all hosts at once and waits for all (a barrier). Until SWITCH,
nothing a user can see has changed; a failure before it stops the new slots and leaves
the old release serving, untouched, on every host. A failure at or after SWITCH puts
every host back on the old slot, which is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.config.loader import resolve_secrets
from shipyard.config.model import Environment
from shipyard.execute import locking
from shipyard.execute.converge import converge
from shipyard.execute.hooks import run_hooks
from shipyard.execute.hostclient import HostClient, HostError
from shipyard.execute.identity import new_deployment_id
from shipyard.execute.observe import observe
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import PhaseFailed, Session
from shipyard.execute.smoke_tests import run_smoke_tests
from shipyard.host.layout import other_slot
from shipyard.plan import requests
from shipyard.release.artifact import Artifact, build_artifact


@dataclass
class DeployFailed(Exception):
    """The deploy did not stay live; the previous release is serving."""

    message: str
    errors: list[HostError] = field(default_factory=list)
    deployment_id: str | None = None
    outcome: str = "failed"
    figures: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DeployOptions:
    """How to deploy. `kind` is what history calls it: deploy, promote or hotfix.

    artifact: a release already built (promotion ships the very artifact staging ran).
    observe_window: overrides the environment's analysis window (the hotfix lane's).
    promoted_from: the deployment on the required environment this release passed.
    gates: the quality-gate report to record with the release.
    """

    ref: str = "HEAD"
    message: str = ""
    lock_wait: float = 0.0
    allow_dirty: bool = False
    trigger: str = "manual"
    kind: str = "deploy"
    artifact: Artifact | None = None
    observe_window: float | None = None
    promoted_from: dict[str, Any] | None = None
    gates: dict[str, Any] | None = None
    build_seconds: float = 0.0  # how long building `artifact` took, when it came prebuilt


@dataclass(frozen=True)
class DeployResult:
    deployment_id: str
    release_id: str
    previous_release: str | None
    timings: dict[str, float]


def artifact_cache() -> Path:
    return Path.home() / ".cache" / "shipyard" / "artifacts"


async def deploy(
    env: Environment, config_path: Path, options: DeployOptions, reporter: Reporter
) -> DeployResult:
    app_dir = config_path.parent
    secrets = resolve_secrets(env, config_path)
    started = time.monotonic()
    artifact = options.artifact or build_artifact(
        app_dir, options.ref, allow_dirty=options.allow_dirty, cache_dir=artifact_cache()
    )
    build_seconds = round(time.monotonic() - started, 3)
    reporter.info(
        f"release {artifact.release_id} (commit {artifact.manifest.commit[:12]}, "
        f"sha256 {artifact.digest[:12]}) -> {env.name} on {len(env.hosts)} host(s)"
    )
    hook_vars = {
        "SHIPYARD_ENV": env.name,
        "SHIPYARD_RELEASE": artifact.release_id,
        "SHIPYARD_COMMIT": artifact.manifest.commit,
    }
    run_hooks(env.hooks.pre_deploy, app_dir, hook_vars)
    session = Session(env, reporter, app_dir=app_dir)
    session.timings["build"] = options.build_seconds if options.artifact else build_seconds
    try:
        await session.open()
        deployment_id = new_deployment_id()
        reason = options.message or f"deploy {artifact.release_id}"
        async with locking.held(
            session.primary, "deploy", reason, deployment_id, options.lock_wait
        ) as taken_over:
            if taken_over:
                reporter.info("took over a stale lock: " + locking.describe_lock(taken_over))
            result = await _deploy_locked(
                session, artifact, env.env | secrets, deployment_id, options
            )
    except PhaseFailed as failed:
        if failed.phase == "connect":
            raise  # unreachable hosts: exit code 4, nothing was touched
        raise DeployFailed(_summary(failed), failed.errors) from None
    except HostError as exc:
        raise DeployFailed(str(exc), [exc]) from None
    finally:
        await session.close()
    try:
        run_hooks(env.hooks.post_deploy, app_dir, hook_vars)
    except Exception as exc:
        reporter.info(f"warning: post_deploy hook failed (the release is live): {exc}")
    return result


def _summary(failed: PhaseFailed) -> str:
    return f"{failed.phase} failed on " + ", ".join(e.host for e in failed.errors)


async def _deploy_locked(
    session: Session,
    artifact: Artifact,
    env_values: dict[str, str],
    deployment_id: str,
    options: DeployOptions,
) -> DeployResult:
    env, primary = session.env, session.primary
    release_id = artifact.release_id
    manifest = artifact.manifest
    await primary.call(
        "record",
        {
            "action": "start",
            "deployment": {
                "id": deployment_id,
                "kind": options.kind,
                "release_id": release_id,
                "previous_release_id": None,
                "commit_sha": manifest.commit,
                "commit_time": manifest.commit_time,
                "trigger": options.trigger,
                "actor": locking.holder("", "", None)["actor"],
                "message": options.message,
                "hosts": [c.label for c in session.clients],
                "started_at": time.time(),
                "promoted_from": options.promoted_from,
            },
        },
    )

    async def record(**fields: Any) -> None:
        await primary.call(
            "record",
            {"action": "update", "deployment_id": deployment_id, "phases": session.timings}
            | fields,
        )

    slots: dict[str, str] = {}
    switched: dict[str, dict[str, Any]] = {}
    try:
        for action in await converge(session, env_values, deployment_id):
            session.reporter.info(f"repaired: {action}")
        manifest_json = manifest.to_json() | ({"gates": options.gates} if options.gates else {})
        await session.each("prepare", lambda c: _prepare(c, artifact, manifest_json, env_values))
        await record()
        if env.release_command:
            await session.each(
                "release-command",
                lambda c: c.call(
                    "release-command",
                    requests.release_command(env, release_id, env_values),
                    timeout=env.release_command_timeout + 60,
                ),
                clients=[primary],
            )
        await boot_and_check(session, release_id, env_values, slots)
        await record()
        window = env.observe.window if options.observe_window is None else options.observe_window
        switched = await _switch_all(session, slots, release_id, window)
        await session.each(
            "verify", lambda c: c.call("verify", requests.verify(env, c.entry, release_id))
        )
        if window > 0:
            passed, figures = await observe(session, release_id, switched, window)
            await record(analysis=figures)
            if not passed:
                await _auto_rollback(session, release_id, slots, switched, figures, record)
        if env.smoke_tests.http or env.smoke_tests.commands:
            checks = await _smoke_tests(session, slots, switched, release_id, record)
            await record(checks=checks)
    except PhaseFailed as failed:
        await _undo(session, slots, switched)
        await record(outcome="failed", error=_error_text(failed), finished=True)
        if failed.phase not in ("repair", "inspect", "prepare"):
            # the release itself misbehaved (not the hosts around it): never a rollback target
            await primary.call("set-release-status", {"release_id": release_id, "status": "bad"})
        raise
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl-C or a cancelled task: put traffic back, stop the new slots, say so
        with contextlib.suppress(Exception):
            await _undo(session, slots, switched)
            await record(outcome="interrupted", error="interrupted by the operator", finished=True)
        raise
    previous = next((r["previous_release"] for r in switched.values()), None)
    await primary.call("set-release-status", {"release_id": release_id, "status": "good"})
    protect = [release_id] + ([previous] if previous else [])
    warnings = await _housekeeping(session, protect, window)
    await record(
        outcome="succeeded",
        previous_release_id=previous,
        error="; ".join(warnings) or None,
        finished=True,
    )
    return DeployResult(deployment_id, release_id, previous, dict(session.timings))


async def boot_and_check(
    session: Session, release_id: str, env_values: dict[str, str], slots: dict[str, str]
) -> None:
    """BOOT the release in every host's idle slot, then CHECK it (health, workers, smoke).

    `slots` is filled as hosts boot, so a caller can undo exactly what was started.
    """
    env = session.env
    try:
        booted = await session.each(
            "boot",
            lambda c: c.call("boot", requests.boot(env, release_id, env_values)),
            detail=lambda r: f"slot {r['slot']}",
        )
    except PhaseFailed as failed:
        slots.update({host: reply["slot"] for host, reply in failed.results.items()})
        raise
    slots.update({host: reply["slot"] for host, reply in booted.items()})
    await session.each(
        "check",
        lambda c: c.call(
            "check",
            requests.check(env, slots[c.label], release_id),
            timeout=env.health.deadline + 360,
        ),
    )


async def _smoke_tests(
    session: Session,
    slots: dict[str, str],
    switched: dict[str, dict[str, Any]],
    release_id: str,
    record: Any,
) -> dict[str, Any]:
    """SMOKE: the configured checks through the environment's URL, after the switch."""
    env = session.env
    for client in session.clients:
        session.reporter.phase(client.label, "smoke", "start")
    started = time.monotonic()
    checks = await run_smoke_tests(env, session.app_dir)
    session.timings["smoke"] = round(time.monotonic() - started, 3)
    for client in session.clients:
        session.reporter.phase(client.label, "smoke", "ok" if checks["passed"] else "failed")
    if checks["passed"]:
        return checks
    failed = "; ".join(f"{r['check']}: {r['detail']}" for r in checks["results"] if not r["ok"])
    if not env.smoke_tests.rollback_on_failure:
        await record(
            outcome="failed", error=f"smoke tests failed: {failed}", checks=checks, finished=True
        )
        raise DeployFailed(
            f"smoke tests failed against {checks['url']}: {failed}; "
            "the release stays live (smoke_tests.rollback_on_failure is off)",
            outcome="failed",
        )
    await _undo(session, slots, switched)
    await session.primary.call("set-release-status", {"release_id": release_id, "status": "bad"})
    summary = f"smoke tests failed against {checks['url']}: {failed}; every host was switched back"
    await record(outcome="failed", error=summary, checks=checks, finished=True)
    raise DeployFailed(summary, outcome="smoke-failed")


async def _housekeeping(session: Session, protect: list[str], window: float) -> list[str]:
    """RETIRE and CLEANUP. The release is live: a failure here is a warning, not a failure."""
    env = session.env
    warnings = []
    effective = requests.retire_window(env, window)
    try:
        if env.rollback_window < effective or env.rollback_window == 0:
            # the old slot was kept warm only for the analysis window: retire it now
            await session.each("retire", lambda c: c.call("retire", {"ahead": effective + 1}))
        await session.each(
            "cleanup",
            lambda c: c.call("cleanup", {"keep": env.keep_releases, "protect": protect}),
            detail=lambda r: f"removed {len(r['removed'])}" if r["removed"] else "",
        )
    except PhaseFailed as failed:
        text = f"{failed.phase} failed (the release is live): {_error_text(failed)}"
        session.reporter.info("warning: " + text)
        warnings.append(text)
    return warnings


async def _auto_rollback(
    session: Session,
    release_id: str,
    slots: dict[str, str],
    switched: dict[str, dict[str, Any]],
    figures: dict[str, Any],
    record: Any,
) -> None:
    """The new release failed its analysis: every host back to the warm old slot."""
    env = session.env
    reasons = "; ".join(figures.get("reasons", [])) or "analysis failed"
    if not env.auto_rollback:
        session.reporter.info(f"warning: analysis failed ({reasons}); auto_rollback is off")
        return
    back = dict(switched)
    if not any(reply.get("previous_slot") for reply in back.values()):
        # the very first release: there is nothing to switch back to
        await session.primary.call(
            "set-release-status", {"release_id": release_id, "status": "bad"}
        )
        summary = (
            f"release {release_id} failed its post-switch analysis ({reasons}); it is the first "
            "release of this environment, so there is nothing to go back to and it stays live"
        )
        await record(outcome="failed", error=summary, analysis=figures, finished=True)
        raise DeployFailed(summary, outcome="failed", figures=figures)
    await _undo(session, slots, switched)
    await session.primary.call("set-release-status", {"release_id": release_id, "status": "bad"})
    summary = (
        f"release {release_id} failed its post-switch analysis and was rolled back on "
        f"{len(back)} host(s): {reasons}. Requests {figures['requests']}, 5xx "
        f"{figures['errors_5xx']}, fell back to old slot {figures['fallbacks']}, worst p95 "
        f"{figures['worst_p95_ms']} ms."
    )
    await record(outcome="auto-rolled-back", error=summary, analysis=figures, finished=True)
    raise DeployFailed(summary, outcome="auto-rolled-back", figures=figures)


def _error_text(failed: PhaseFailed) -> str:
    return "; ".join(f"{e.host} {failed.phase}: {e.message}" for e in failed.errors)


async def _prepare(
    client: HostClient,
    artifact: Artifact,
    manifest_json: dict[str, Any],
    env_values: dict[str, str],
) -> Any:
    env = client.env
    remote = (
        f"{env.root_for(client.entry)}/{env.app}/{env.name}/uploads/{artifact.release_id}.tar.gz"
    )
    await client.transport.put(artifact.path, remote)
    await client.call(
        "prepare",
        requests.prepare(
            env,
            release_id=artifact.release_id,
            digest=artifact.digest,
            artifact=remote,
            manifest=manifest_json,
            env_values=env_values,
        ),
        timeout=env.build_timeout + 120,
    )
    return await client.call("proxy", requests.proxy_request(env, client.entry))


async def _switch_all(
    session: Session, slots: dict[str, str], release_id: str, observe_window: float | None = None
) -> dict[str, dict[str, Any]]:
    env = session.env
    switched: dict[str, dict[str, Any]] = {}

    async def one(client: HostClient) -> dict[str, Any]:
        reply = await client.call(
            "switch",
            requests.switch(env, client.entry, slots[client.label], release_id, observe_window),
        )
        switched[client.label] = reply
        return reply

    try:
        await session.each("switch", one)
    except PhaseFailed as failed:
        failed.results = {}
        await _switch_back(session, switched)
        # a host whose reply never came may have switched all the same: ask it to go
        # back to the other slot (a no-op if it never switched; best effort if the link
        # is still down, and `shipyard repair` converges it later)
        unsure = [c for c in session.clients if c.label not in switched]
        with contextlib.suppress(PhaseFailed):
            await session.each(
                "switch-back",
                lambda c: c.call(
                    "switch",
                    requests.switch(env, c.entry, other_slot(slots[c.label]), None, retreat=True),
                ),
                clients=unsure,
            )
        raise
    return switched


async def _switch_back(session: Session, switched: dict[str, dict[str, Any]]) -> None:
    """Put every host that switched back on the slot it served from before."""
    env = session.env
    back = [
        c
        for c in session.clients
        if c.label in switched
        and not switched[c.label]["noop"]
        and switched[c.label]["previous_slot"]
    ]
    if not back:
        return
    with contextlib.suppress(PhaseFailed):
        await session.each(
            "switch-back",
            lambda c: c.call(
                "switch",
                requests.switch(
                    env,
                    c.entry,
                    switched[c.label]["previous_slot"],
                    switched[c.label]["previous_release"],
                    retreat=True,
                ),
            ),
            clients=back,
        )
    switched.clear()


async def _undo(
    session: Session, slots: dict[str, str], switched: dict[str, dict[str, Any]]
) -> None:
    """After a failure: traffic back to the old slots, then stop the new ones."""
    if switched:
        await _switch_back(session, switched)
    targets = [c for c in session.clients if c.label in slots]
    with contextlib.suppress(PhaseFailed):
        await session.each(
            "stop-new",
            lambda c: c.call("stop-slot", {"slot": slots[c.label]}),
            clients=targets,
            quiet=True,
        )
