"""The one pipeline every change to an environment goes through.

Deploy, hotfix, promote, rollback and repair: the CLI, the benchmarks and every later
caller (`shipyard serve`, drills, `recover`) call these functions, and nothing else, to
change an environment. Each runs the whole sequence in order, so no caller can skip a
gate, a promotion rule, the approval, the lock or the record:

    build -> what runs (the release's own shipyard.yml) -> secrets -> quality gates
    -> promotion rules -> approval -> pre_deploy hooks -> connect (versions checked)
    -> lock -> record -> converge -> phases -> record -> post_deploy hooks

A forced override (`promote --force --reason`) stays explicit and is recorded with the
deployment; the hotfix lane skips the promotion path and optional gates, never the
health check, the lock, the digest or the automatic rollback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from shipyard.config.loader import ConfigFile, resolve_secrets
from shipyard.config.model import Environment
from shipyard.execute import locking
from shipyard.execute import recover as recover_steps
from shipyard.execute.approval import approval_for
from shipyard.execute.converge import converge
from shipyard.execute.deploy import Shipment, deploy_locked
from shipyard.execute.gating import gate_release
from shipyard.execute.hooks import run_hooks
from shipyard.execute.identity import new_deployment_id, trigger
from shipyard.execute.outcomes import DeployResult
from shipyard.execute.progress import ProgressRecorder
from shipyard.execute.promotion import PromotionRefused, primary_view, verdict_on
from shipyard.execute.recover import RecoverResult
from shipyard.execute.release_runtime import choose_runtime
from shipyard.execute.rollback_flow import rollback as rollback
from shipyard.execute.runner import Runtime as Runtime
from shipyard.execute.runner import primary_session as primary_session
from shipyard.release.artifact import Artifact, artifact_cache, build_artifact


async def deploy(
    config: ConfigFile,
    env_name: str,
    runtime: Runtime,
    *,
    ref: str = "HEAD",
    message: str = "",
    lock_wait: float = 0.0,
    allow_dirty: bool = False,
    runtime_from_working_tree: bool = False,
) -> DeployResult:
    """Build `ref` and deploy it to the environment, if its rules accept it. What runs
    comes from the release's own shipyard.yml unless `runtime_from_working_tree`."""
    working = config.environment(env_name)
    artifact, build_seconds = _build(config, ref, allow_dirty=allow_dirty)
    chosen = choose_runtime(
        config, working, artifact, runtime.reporter, use_working_tree=runtime_from_working_tree
    )
    env = chosen.env
    secrets = resolve_secrets(env, config.path)
    gates = _gates(config, env, ref, runtime, secrets, include_optional=True)
    required = env.promotion.requires
    promoted_from = None
    if required:
        async with primary_session(runtime, config.environment(required)) as source:
            view = await primary_view(source)
        verdict = verdict_on(view, artifact.release_id, required, env.promotion.soak)
        if not verdict.allowed:
            raise PromotionRefused(
                f"{env.name} refuses release {artifact.release_id}: " + "; ".join(verdict.reasons),
                hint=f"deploy it to {required} and let it pass, then `shipyard promote "
                f"{required} {env.name}`; in an emergency: `shipyard hotfix {env.name} "
                "--ref REF --reason TEXT`",
                reasons=verdict.reasons,
            )
        promoted_from = (verdict.evidence or {}) | {"environment": required}
    shipment = Shipment(
        artifact=artifact,
        kind="deploy",
        trigger=trigger(),
        message=message,
        observe_window=env.observe.window,
        promoted_from=promoted_from,
        gates=gates,
        build_seconds=build_seconds,
        app_dir=config.path.parent,
        runtime_spec=chosen.spec_json,
        runtime_record=chosen.record,
    )
    return await _ship(env, runtime, shipment, secrets, lock_wait)


async def hotfix(
    config: ConfigFile,
    env_name: str,
    runtime: Runtime,
    *,
    ref: str,
    reason: str,
    lock_wait: float = 0.0,
    runtime_from_working_tree: bool = False,
) -> DeployResult:
    """The emergency lane: deploy `ref` now, skipping the promotion path and optional
    gates; never the required gates, approval, health check, lock, digest or rollback."""
    if not reason.strip():
        raise PromotionRefused(
            "a hotfix needs a reason: it is recorded",
            "e.g. --reason 'payments failing since 10:02'",
        )
    working = config.environment(env_name)
    artifact, build_seconds = _build(config, ref, allow_dirty=False)
    chosen = choose_runtime(
        config, working, artifact, runtime.reporter, use_working_tree=runtime_from_working_tree
    )
    env = chosen.env
    secrets = resolve_secrets(env, config.path)
    gated = time.monotonic()
    gates = _gates(config, env, ref, runtime, secrets, include_optional=False)
    gates_seconds = round(time.monotonic() - gated, 3)
    shipment = Shipment(
        artifact=artifact,
        kind="hotfix",
        trigger="hotfix",
        message=reason,
        observe_window=env.hotfix.observe_window,
        promoted_from=None,
        gates=gates,
        build_seconds=build_seconds,
        gates_seconds=gates_seconds,
        app_dir=config.path.parent,
        runtime_spec=chosen.spec_json,
        runtime_record=chosen.record,
    )
    return await _ship(env, runtime, shipment, secrets, lock_wait)


async def promote(
    config: ConfigFile,
    source_name: str,
    target_name: str,
    runtime: Runtime,
    *,
    release: str | None = None,
    force: bool = False,
    reason: str = "",
    lock_wait: float = 0.0,
    runtime_from_working_tree: bool = False,
) -> DeployResult:
    """Deploy to the target the identical artifact (same sha256) the source ran, with the
    runtime its own shipyard.yml gives the target (unless `runtime_from_working_tree`)."""
    source, target = config.environment(source_name), config.environment(target_name)
    if force and not reason.strip():
        raise PromotionRefused("--force needs --reason: it is recorded in the history")
    if target.promotion.requires not in (None, source_name):
        raise PromotionRefused(
            f"{target_name} takes releases from {target.promotion.requires}, not {source_name}",
            hint=f"shipyard promote {target.promotion.requires} {target_name}",
        )
    async with primary_session(runtime, source) as session:
        view = await primary_view(session)
    release_id = release or view.active
    if release_id is None:
        raise PromotionRefused(f"{source_name} has no active release to promote")
    info = next((r for r in view.releases if r.release_id == release_id), None)
    if info is None:
        raise PromotionRefused(
            f"release {release_id} is not on {source_name}",
            hint=f"see `shipyard releases {source_name}`",
        )
    verdict = verdict_on(view, release_id, source_name, target.promotion.soak)
    if not verdict.allowed and not force:
        raise PromotionRefused(
            f"{target_name} refuses release {release_id}: " + "; ".join(verdict.reasons),
            hint=f"deploy it to {source_name} first and let it pass, or pass "
            "--force --reason TEXT (recorded)",
            reasons=verdict.reasons,
        )
    manifest = info.manifest
    if manifest.dirty:
        raise PromotionRefused(
            f"release {release_id} was built from uncommitted changes and cannot be promoted",
            hint="commit the change, deploy it to the first environment, then promote",
        )
    artifact, build_seconds = _build(config, manifest.commit, ignore_working_tree=True)
    if artifact.digest != info.digest:
        raise PromotionRefused(
            f"the artifact rebuilt from commit {manifest.commit[:12]} has sha256 "
            f"{artifact.digest[:16]}..., but {source_name} ran {info.digest[:16]}...",
            hint="the app directory or Shipyard's packing changed between the two; "
            f"deploy {manifest.commit[:12]} to {source_name} again, then promote",
        )
    chosen = choose_runtime(
        config, target, artifact, runtime.reporter, use_working_tree=runtime_from_working_tree
    )
    target = chosen.env
    secrets = resolve_secrets(target, config.path)
    gates = _gates(config, target, manifest.commit, runtime, secrets, include_optional=True)
    promoted_from: dict[str, Any] = (verdict.evidence or {}) | {"environment": source_name}
    if force and not verdict.allowed:
        promoted_from |= {"forced": True, "reason": reason, "refused_because": verdict.reasons}
    shipment = Shipment(
        artifact=artifact,
        kind="promote",
        trigger=trigger(),
        message=reason or f"promote {release_id} from {source_name}",
        observe_window=target.observe.window,
        promoted_from=promoted_from,
        gates=gates,
        build_seconds=build_seconds,
        app_dir=config.path.parent,
        runtime_spec=chosen.spec_json,
        runtime_record=chosen.record,
    )
    return await _ship(target, runtime, shipment, secrets, lock_wait)


async def repair(
    config: ConfigFile, env_name: str, runtime: Runtime, *, lock_wait: float = 0.0
) -> list[str]:
    """`shipyard repair ENV`: under the lock, converge every host; return what was done."""
    env = config.environment(env_name)
    secrets = resolve_secrets(env, config.path)
    repair_id = "repair-" + new_deployment_id()
    session = runtime.session(env, list(secrets.values()))
    actions: list[str] = []
    async with locking.locked_session(
        session, command="repair", reason="repair", deployment_id=repair_id, lock_wait=lock_wait
    ):
        actions += await converge(session, env.env | secrets, None)
    return actions


def _gates(
    config: ConfigFile,
    env: Environment,
    ref: str,
    runtime: Runtime,
    secrets: dict[str, str],
    *,
    include_optional: bool,
) -> dict[str, Any]:
    """The quality gates, on exactly the code that ships; a failure stops everything
    before any host is touched (GatesFailed, exit 6)."""
    runtime.reporter.info(
        f"quality gates for {env.name}" + ("" if include_optional else " (required ones only)")
    )
    return gate_release(
        env,
        config.path,
        ref,
        runtime.reporter,
        include_optional=include_optional,
        secrets=list(secrets.values()),
    )


def _build(
    config: ConfigFile, ref: str, *, allow_dirty: bool = False, ignore_working_tree: bool = False
) -> tuple[Artifact, float]:
    started = time.monotonic()
    artifact = build_artifact(
        config.path.parent,
        ref,
        allow_dirty=allow_dirty,
        cache_dir=artifact_cache(),
        ignore_working_tree=ignore_working_tree,
    )
    return artifact, round(time.monotonic() - started, 3)


async def _ship(
    env: Environment,
    runtime: Runtime,
    shipment: Shipment,
    secrets: dict[str, str],
    lock_wait: float,
) -> DeployResult:
    """Approval, hooks, then the locked deploy with its record and live progress."""
    artifact = shipment.artifact
    runtime.reporter.info(
        f"release {artifact.release_id} (commit {artifact.manifest.commit[:12]}, "
        f"sha256 {artifact.digest[:12]}) -> {env.name} on {len(env.hosts)} host(s)"
    )
    approval_seconds = None
    if env.promotion.approval:
        waited = time.monotonic()
        async with primary_session(runtime, env) as session:
            await approval_for(session, artifact.release_id, runtime.reporter, runtime.approver)
        approval_seconds = round(time.monotonic() - waited, 3)
    hook_vars = {
        "SHIPYARD_ENV": env.name,
        "SHIPYARD_RELEASE": artifact.release_id,
        "SHIPYARD_COMMIT": artifact.manifest.commit,
    }
    run_hooks(env.hooks.pre_deploy, shipment.app_dir, hook_vars, env.hooks.timeout)
    deployment_id = new_deployment_id()
    session = runtime.session(env, list(secrets.values()))
    session.timings["build"] = shipment.build_seconds
    if shipment.gates_seconds is not None:  # the hotfix lane's gates (emergency response)
        session.timings["gates"] = shipment.gates_seconds
    if approval_seconds is not None:  # people waiting on an approval (hands-on time)
        session.timings["approval"] = approval_seconds
    recorder = ProgressRecorder(session.primary, deployment_id)
    session.observers.append(recorder)
    reason = shipment.message or f"deploy {artifact.release_id}"
    async with locking.locked_session(
        session, command="deploy", reason=reason, deployment_id=deployment_id, lock_wait=lock_wait
    ):
        recorder.start()
        try:
            result = await deploy_locked(session, shipment, env.env | secrets, deployment_id)
        finally:
            await recorder.stop()
    try:
        run_hooks(env.hooks.post_deploy, shipment.app_dir, hook_vars, env.hooks.timeout)
    except Exception as exc:
        runtime.reporter.info(f"warning: post_deploy hook failed (the release is live): {exc}")
    return result


async def recover(
    config: ConfigFile,
    env_name: str,
    runtime: Runtime,
    *,
    to: str,
    root: str | None = None,
    listen: str | None = None,
    release: str | None = None,
    force: bool = False,
    lock_wait: float = 0.0,
    drill: bool = False,
    secret_overrides: Mapping[str, str] | None = None,
    deployment_id: str | None = None,
) -> RecoverResult:
    """`shipyard recover ENV --to HOST`: the environment's release and its newest
    verified data on a new server (execute/recover.py). The release passed its gates,
    rules and approval when it first shipped; a recovery redeploys that very artifact
    (its sha256 checked), so it runs none of them again."""
    return await recover_steps.recover(
        config,
        env_name,
        runtime.reporter,
        runtime.hosts,
        to=to,
        root=root,
        listen=listen,
        release=release,
        force=force,
        lock_wait=lock_wait,
        drill=drill,
        secret_overrides=secret_overrides,
        deployment_id=deployment_id,
    )
