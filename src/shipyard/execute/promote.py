"""Promotion between environments, the requirement check, and manual approval."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipyard.config.loader import ConfigFile
from shipyard.config.model import Environment
from shipyard.execute.deploy import DeployOptions, DeployResult, artifact_cache, deploy
from shipyard.execute.identity import actor, trigger
from shipyard.execute.reporter import PlainReporter, Reporter
from shipyard.execute.session import Session
from shipyard.plan.promotion import Verdict, passed_required
from shipyard.release.artifact import build_artifact


@dataclass
class PromotionRefused(Exception):
    """The target environment does not accept this release (yet)."""

    message: str
    hint: str = ""
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


async def _primary_view(env: Environment) -> dict[str, Any]:
    """Releases, history and the active release of an environment, from its primary."""
    session = Session(env, PlainReporter(stream=sys.stderr))
    try:
        await session.open(clients=[session.primary])
        listing = await session.primary.call("releases")
        history = (await session.primary.call("history", {"limit": 500}))["deployments"]
    finally:
        await session.close()
    active = None
    if listing["active_slot"]:
        active = listing["slots"].get(listing["active_slot"], {}).get("release_id")
    return {"releases": listing["releases"], "history": history, "active": active}


async def required_verdict(config: ConfigFile, target: Environment, release_id: str) -> Verdict:
    """Has `release_id` passed the environment `target` requires? (Allowed if none.)"""
    required = target.promotion.requires
    if not required:
        return Verdict(True, [], None)
    view = await _primary_view(config.environment(required))
    return passed_required(
        release_id, required, view["history"], view["releases"], target.promotion.soak, time.time()
    )


async def approval_for(
    env: Environment,
    release_id: str,
    reporter: Reporter,
    *,
    interactive: bool,
    confirm: Callable[[str], bool],
    poll: float = 5.0,
) -> dict[str, Any] | None:
    """Wait for (or ask for) a person's approval of `release_id` on `env`, if it needs one."""
    if not env.promotion.approval:
        return None
    session = Session(env, PlainReporter(stream=sys.stderr))
    try:
        await session.open(clients=[session.primary])
        primary = session.primary
        request = {"action": "list", "release_id": release_id}
        approvals = (await primary.call("approval", request))["approvals"]
        if approvals:
            return dict(approvals[0])
        if interactive:
            if not confirm(f"Deploy release {release_id} to {env.name}? This is your approval"):
                raise PromotionRefused(f"{env.name}: release {release_id} was not approved")
            added = {"action": "add", "release_id": release_id, "actor": actor(), "note": "tty"}
            return dict((await primary.call("approval", added))["approvals"][0])
        reporter.info(
            f"waiting up to {env.promotion.approval_timeout:g}s for approval: "
            f"shipyard approve {env.name} {release_id}"
        )
        deadline = time.monotonic() + env.promotion.approval_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            approvals = (await primary.call("approval", request))["approvals"]
            if approvals:
                return dict(approvals[0])
    finally:
        await session.close()
    raise PromotionRefused(
        f"{env.name} requires an approval of release {release_id}, and none came "
        f"within {env.promotion.approval_timeout:g}s",
        hint=f"someone runs `shipyard approve {env.name} {release_id}`, then run this again",
    )


async def approve(env: Environment, release_id: str, note: str) -> dict[str, Any]:
    session = Session(env, PlainReporter(stream=sys.stderr))
    try:
        await session.open(clients=[session.primary])
        request = {"action": "add", "release_id": release_id, "actor": actor(), "note": note}
        reply = await session.primary.call("approval", request)
    finally:
        await session.close()
    return dict(reply["approvals"][-1])


async def promote(
    config: ConfigFile,
    source_name: str,
    target_name: str,
    release: str | None,
    reporter: Reporter,
    *,
    force: bool = False,
    reason: str = "",
    lock_wait: float = 0.0,
    interactive: bool = False,
    confirm: Callable[[str], bool] = lambda _: False,
) -> DeployResult:
    """Deploy to `target` the identical artifact `source` ran successfully."""
    source, target = config.environment(source_name), config.environment(target_name)
    if force and not reason:
        raise PromotionRefused("--force needs --reason: it is recorded in the history")
    if target.promotion.requires not in (None, source_name):
        raise PromotionRefused(
            f"{target_name} takes releases from {target.promotion.requires}, not {source_name}",
            hint=f"shipyard promote {target.promotion.requires} {target_name}",
        )
    view = await _primary_view(source)
    release_id = release or view["active"]
    if release_id is None:
        raise PromotionRefused(f"{source_name} has no active release to promote")
    info = next((r for r in view["releases"] if r["release_id"] == release_id), None)
    if info is None:
        raise PromotionRefused(
            f"release {release_id} is not on {source_name}",
            hint=f"see `shipyard releases {source_name}`",
        )
    verdict = passed_required(
        release_id,
        source_name,
        view["history"],
        view["releases"],
        target.promotion.soak,
        time.time(),
    )
    if not verdict.allowed and not force:
        raise PromotionRefused(
            f"{target_name} refuses release {release_id}: " + "; ".join(verdict.reasons),
            hint=f"deploy it to {source_name} first and let it pass, or pass "
            "--force --reason TEXT (recorded)",
            reasons=verdict.reasons,
        )
    manifest = info["manifest"]
    if manifest.get("dirty"):
        raise PromotionRefused(
            f"release {release_id} was built from uncommitted changes and cannot be promoted",
            hint="commit the change, deploy it to the first environment, then promote",
        )
    artifact = build_artifact(
        config.path.parent,
        manifest["commit"],
        allow_dirty=False,
        cache_dir=artifact_cache(),
        ignore_working_tree=True,
    )
    if artifact.digest != info["digest"]:
        raise PromotionRefused(
            f"the artifact rebuilt from commit {manifest['commit'][:12]} has sha256 "
            f"{artifact.digest[:16]}..., but {source_name} ran {info['digest'][:16]}...",
            hint="the app directory or Shipyard's packing changed between the two; "
            f"deploy {manifest['commit'][:12]} to {source_name} again, then promote",
        )
    await approval_for(target, release_id, reporter, interactive=interactive, confirm=confirm)
    promoted_from = (verdict.evidence or {}) | {"environment": source_name}
    if force and not verdict.allowed:
        promoted_from |= {"forced": True, "reason": reason, "refused_because": verdict.reasons}
    message = reason or f"promote {release_id} from {source_name}"
    return await deploy(
        target,
        config.path,
        DeployOptions(
            message=message,
            lock_wait=lock_wait,
            trigger=trigger(),
            kind="promote",
            artifact=artifact,
            promoted_from=promoted_from,
            gates=manifest.get("gates"),
        ),
        reporter,
    )
