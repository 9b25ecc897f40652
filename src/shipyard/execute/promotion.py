"""Promotion rules: has a release passed the environment the target requires?"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute.session import Session
from shipyard.plan.promotion import PromotionVerdict, passed_required
from shipyard.protocol.common import Deployment, ReleaseInfo
from shipyard.protocol.op import Empty
from shipyard.protocol.records import HISTORY, RELEASES, HistoryRequest

PROMOTION_HISTORY = 500


class PromotionRefused(ShipyardError):
    """The target environment does not accept this release (yet) (exit 7)."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, hint: str = "", reasons: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.reasons = reasons or []


@dataclass(frozen=True)
class EnvironmentView:
    """Releases, history and the active release of an environment, from its primary."""

    releases: list[ReleaseInfo]
    history: list[Deployment]
    active: str | None


async def primary_view(session: Session) -> EnvironmentView:
    """`session` is open on the environment's primary."""
    listing = await session.primary.call(RELEASES, Empty())
    history = await session.primary.call(HISTORY, HistoryRequest(limit=PROMOTION_HISTORY))
    active = None
    if listing.active_slot:
        row = listing.slots.get(listing.active_slot)
        active = row.release_id if row else None
    return EnvironmentView(listing.releases, history.deployments, active)


def verdict_on(
    view: EnvironmentView, release_id: str, env_name: str, soak: float
) -> PromotionVerdict:
    return passed_required(release_id, env_name, view.history, view.releases, soak, time.time())
