"""Manual approval: a person approves a release for an environment that asks for one."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from shipyard.config.model import Environment
from shipyard.execute.identity import actor
from shipyard.execute.promotion import PromotionRefused
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import Session
from shipyard.protocol.records import (
    APPROVAL_ADD,
    APPROVAL_LIST,
    Approval,
    ApprovalAddRequest,
    ApprovalListRequest,
)

POLL_SECONDS = 5.0


class Approver(Protocol):
    """How a command asks a person: a terminal prompt, or nobody (CI, serve, benchmarks)."""

    @property
    def interactive(self) -> bool: ...

    def confirm(self, question: str) -> bool: ...


class Nobody:
    """No person to ask: an approval must come from `shipyard approve`."""

    interactive = False

    def confirm(self, question: str) -> bool:
        return False


async def approval_for(
    session: Session,
    release_id: str,
    reporter: Reporter,
    approver: Approver,
    *,
    poll: float = POLL_SECONDS,
) -> Approval | None:
    """Wait for (or ask for) a person's approval of `release_id`, if the environment
    needs one. `session` is open on the environment's primary."""
    env = session.env
    if not env.promotion.approval:
        return None
    primary = session.primary
    request = ApprovalListRequest(release_id=release_id)
    approvals = (await primary.call(APPROVAL_LIST, request)).approvals
    if approvals:
        return approvals[0]
    if approver.interactive:
        if not approver.confirm(
            f"Deploy release {release_id} to {env.name}? This is your approval"
        ):
            raise PromotionRefused(f"{env.name}: release {release_id} was not approved")
        added = ApprovalAddRequest(release_id=release_id, actor=actor(), note="tty")
        return (await primary.call(APPROVAL_ADD, added)).approvals[0]
    reporter.info(
        f"waiting up to {env.promotion.approval_timeout:g}s for approval: "
        f"shipyard approve {env.name} {release_id}"
    )
    deadline = time.monotonic() + env.promotion.approval_timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
        approvals = (await primary.call(APPROVAL_LIST, request)).approvals
        if approvals:
            return approvals[0]
    raise PromotionRefused(
        f"{env.name} requires an approval of release {release_id}, and none came "
        f"within {env.promotion.approval_timeout:g}s",
        hint=f"someone runs `shipyard approve {env.name} {release_id}`, then run this again",
    )


async def approve(session: Session, env: Environment, release_id: str, note: str) -> Approval:
    """`shipyard approve`: record a person's approval on the environment's primary."""
    request = ApprovalAddRequest(release_id=release_id, actor=actor(), note=note)
    return (await session.primary.call(APPROVAL_ADD, request)).approvals[-1]
