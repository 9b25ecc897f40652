"""The deploy of a built release, under the lock: PREPARE, (BACKUP, release command), BOOT, CHECK,
barrier, SWITCH, VERIFY, OBSERVE, SMOKE, RETIRE, CLEANUP.

Every phase runs on all hosts at once and waits for all (a barrier). Until SWITCH,
nothing a user can see has changed; a failure before it stops the new slots and leaves
the old release serving, untouched, on every host. A failure at or after SWITCH puts
every host back on the old slot, which is still running.

This is one step of the pipeline (`shipyard.execute.pipeline`), which runs the gates,
the promotion rules and the approval first: call the pipeline, not this.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from shipyard.execute import phases, premigration, tls
from shipyard.execute.converge import converge
from shipyard.execute.hostclient import Host
from shipyard.execute.identity import actor
from shipyard.execute.observe import observe
from shipyard.execute.outcomes import DeployFailed, DeployResult
from shipyard.execute.records import Recorder
from shipyard.execute.session import PhaseFailed, Session
from shipyard.execute.smoke_tests import run_smoke_tests
from shipyard.plan import rollout
from shipyard.plan.blame import marks_release_bad
from shipyard.protocol.codec import encode
from shipyard.protocol.common import DeploymentStart
from shipyard.protocol.records import SET_RELEASE_STATUS, SetReleaseStatusRequest
from shipyard.release.artifact import Artifact


@dataclass(frozen=True)
class Shipment:
    """What the locked part of a deploy ships, and how it is recorded.

    kind: deploy, promote or hotfix. observe_window: the analysis window (the hotfix
    lane's is shorter). promoted_from: the deployment on the required environment this
    release passed (with any forced override). gates: the quality-gate report.
    """

    artifact: Artifact
    kind: Literal["deploy", "promote", "hotfix"]
    trigger: str
    message: str
    observe_window: float
    promoted_from: dict[str, Any] | None
    gates: dict[str, Any] | None
    build_seconds: float  # how long building the artifact took (recorded as a phase)
    app_dir: Path  # where hooks and smoke-test commands run
    runtime_spec: dict[str, Any] | None = None  # what runs (recorded with the release)
    runtime_record: dict[str, Any] | None = None  # where it came from (in the history)


async def deploy_locked(
    session: Session,
    shipment: Shipment,
    env_values: dict[str, str],
    deployment_id: str,
) -> DeployResult:
    env = session.env
    artifact = shipment.artifact
    release_id = artifact.release_id
    manifest = replace(artifact.manifest, gates=shipment.gates)
    recorder = Recorder(session, deployment_id)
    await recorder.start(
        DeploymentStart(
            id=deployment_id,
            kind=shipment.kind,
            release_id=release_id,
            previous_release_id=None,
            commit_sha=manifest.commit,
            commit_time=manifest.commit_time,
            trigger=shipment.trigger,
            actor=actor(),
            message=shipment.message,
            hosts=[h.label for h in session.hosts],
            started_at=time.time(),
            promoted_from=shipment.promoted_from,
            runtime=shipment.runtime_record,
        )
    )
    slots: phases.Slots = {}
    switched: phases.Switched = {}
    window = shipment.observe_window
    plan = rollout.batches(session.hosts, env.rollout)
    progress = _Rollout(session, plan)
    try:
        for action in await converge(session, env_values, deployment_id):
            session.reporter.info(f"repaired: {action}")
        await phases.prepare(session, artifact, manifest, env_values, shipment.runtime_spec)
        await tls.deploy_step(session, env_values, shipment.app_dir)
        await recorder.update()
        if env.release_command:
            taken = await premigration.before_migration(session, env_values, deployment_id)
            if taken:
                await recorder.update(backups=[encode(b) for b in taken])
            await phases.release_command(session, release_id, env_values)
        for index, batch in enumerate(plan):
            progress.batch(index)
            await phases.boot_and_check(session, release_id, env_values, slots, hosts=batch)
            await recorder.update()
            await phases.switch_all(
                session, slots, release_id, switched, observe_window=window, hosts=batch
            )
            await phases.verify(session, release_id, hosts=batch)
            if window > 0:
                just = {h.label: switched[h.label] for h in batch if h.label in switched}
                passed, figures = await observe(session, release_id, just, window, hosts=batch)
                progress.figures = figures
                await recorder.update(analysis=progress.analysis())
                if not passed:
                    figures = progress.analysis(failed=True)
                    await _auto_rollback(session, release_id, slots, switched, figures, recorder)
            progress.switched += 1
        if progress.rolling:
            await recorder.update(analysis=progress.analysis())
        if env.smoke_tests.http or env.smoke_tests.commands:
            checks = await _smoke_tests(
                session, shipment.app_dir, slots, switched, release_id, recorder
            )
            await recorder.update(checks=checks)
    except PhaseFailed as failed:
        await phases.undo(session, slots, switched)
        if progress.rolling:
            await recorder.finish(
                "failed", failed.error_text(), analysis=progress.analysis(failed=True)
            )
        else:
            await recorder.finish("failed", failed.error_text())
        if marks_release_bad(failed.phase):
            await _mark(session, release_id, "bad")
        raise DeployFailed(str(failed), failed.errors) from None
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl-C or a cancelled task: put traffic back, stop the new slots, say so
        with contextlib.suppress(Exception):
            await phases.undo(session, slots, switched)
            await recorder.finish("interrupted", "interrupted by the operator")
        raise
    previous = next((r.previous_release for r in switched.values()), None)
    await _mark(session, release_id, "good")
    protect = [release_id] + ([previous] if previous else [])
    warnings = await phases.housekeeping(session, protect, window)
    await recorder.finish("succeeded", "; ".join(warnings) or None, previous_release_id=previous)
    return DeployResult(deployment_id, release_id, previous, dict(session.timings))


class _Rollout:
    """Where a rolling deploy is: the batches, how many switched, the last figures; what
    the record keeps of it (`analysis.rollout`) when there is more than one batch."""

    def __init__(self, session: Session, plan: list[list[Host]]) -> None:
        self.session = session
        self.plan = plan
        self.current = 0
        self.switched = 0
        self.figures: dict[str, Any] = {}

    @property
    def rolling(self) -> bool:
        return len(self.plan) > 1

    def batch(self, index: int) -> None:
        self.current = index
        if self.rolling:
            labels = ", ".join(h.label for h in self.plan[index])
            self.session.reporter.info(f"rollout: batch {index + 1}/{len(self.plan)}: {labels}")

    def analysis(self, *, failed: bool = False) -> dict[str, Any]:
        if not self.rolling:
            return self.figures
        record = rollout.rollout_record(
            [[h.label for h in batch] for batch in self.plan],
            self.switched,
            self.current if failed else None,
        )
        return {**self.figures, "rollout": record}


async def _mark(session: Session, release_id: str, status: Literal["good", "bad"]) -> None:
    await session.primary.call(
        SET_RELEASE_STATUS, SetReleaseStatusRequest(release_id=release_id, status=status)
    )


async def _smoke_tests(
    session: Session,
    app_dir: Path,
    slots: phases.Slots,
    switched: phases.Switched,
    release_id: str,
    recorder: Recorder,
) -> dict[str, Any]:
    """SMOKE: the configured checks through the environment's URL, after the switch."""
    env = session.env
    for host in session.hosts:
        session.reporter.phase(host.label, "smoke", "start")
    started = time.monotonic()
    checks = await run_smoke_tests(env, app_dir)
    session.timings["smoke"] = round(time.monotonic() - started, 3)
    for host in session.hosts:
        session.reporter.phase(host.label, "smoke", "ok" if checks["passed"] else "failed")
    if checks["passed"]:
        return checks
    failed = "; ".join(f"{r['check']}: {r['detail']}" for r in checks["results"] if not r["ok"])
    failed = session.redact(failed)
    if not env.smoke_tests.rollback_on_failure:
        message = f"smoke tests failed against {checks['url']}: {failed}"
        await recorder.finish("failed", message, checks=checks)
        raise DeployFailed(
            message + "; the release stays live (smoke_tests.rollback_on_failure is off)",
            hint="fix forward, or `shipyard rollback ENV`",
        )
    await phases.undo(session, slots, switched)
    await _mark(session, release_id, "bad")
    summary = f"smoke tests failed against {checks['url']}: {failed}; every host was switched back"
    await recorder.finish("failed", summary, checks=checks)
    raise DeployFailed(summary, outcome="smoke-failed")


async def _auto_rollback(
    session: Session,
    release_id: str,
    slots: phases.Slots,
    switched: phases.Switched,
    figures: dict[str, Any],
    recorder: Recorder,
) -> None:
    """The new release failed its analysis: every host back to the warm old slot."""
    env = session.env
    reasons = "; ".join(figures.get("reasons", [])) or "analysis failed"
    if not env.auto_rollback:
        session.reporter.info(f"warning: analysis failed ({reasons}); auto_rollback is off")
        return
    back = dict(switched)
    if not any(reply.previous_slot for reply in back.values()):
        # the very first release: there is nothing to switch back to
        await _mark(session, release_id, "bad")
        summary = (
            f"release {release_id} failed its post-switch analysis ({reasons}); it is the first "
            "release of this environment, so there is nothing to go back to and it stays live"
        )
        await recorder.finish("failed", summary, analysis=figures)
        raise DeployFailed(summary, figures=figures, hint="fix forward: deploy a fixed release")
    await phases.undo(session, slots, switched)
    await _mark(session, release_id, "bad")
    summary = (
        f"release {release_id} failed its post-switch analysis and was rolled back on "
        f"{len(back)} host(s): {reasons}. Requests {figures['requests']}, 5xx "
        f"{figures['errors_5xx']}, fell back to old slot {figures['fallbacks']}, worst p95 "
        f"{figures['worst_p95_ms']} ms."
    )
    await recorder.finish("auto-rolled-back", summary, analysis=figures)
    raise DeployFailed(summary, outcome="auto-rolled-back", figures=figures)
