"""Pure decisions about rollbacks: the target, and whether a slot still runs it warm."""

from __future__ import annotations

from collections.abc import Collection

from shipyard.errors import ShipyardError
from shipyard.protocol.common import Deployment
from shipyard.protocol.inspect import StatusReply


class NoRollbackTarget(ShipyardError):
    """Nothing to roll back to (exit 1)."""


def previous_good_release(
    deployments: list[Deployment],
    active_release: str | None,
    bad: Collection[str],
    present: Collection[str],
) -> str:
    """The newest release that last deployed successfully, is not active, bad or removed."""
    for record in deployments:  # newest first
        release = record.release_id
        if record.outcome != "succeeded" or release == active_release:
            continue
        if release in bad or release not in present:
            continue
        return release
    raise NoRollbackTarget(
        "no earlier good release to roll back to",
        hint="see `shipyard releases ENV` for what is on the hosts",
    )


def warm_slot(status: StatusReply, release_id: str) -> str | None:
    """The idle slot on one host still running `release_id` (inside the rollback window)."""
    for slot in status.slots:
        if (
            not slot.active
            and slot.release_id == release_id
            and slot.state == "warm"
            and slot.process == "RUNNING"
        ):
            return slot.slot
    return None


def converge_target(history: list[Deployment], actives: dict[str, str | None]) -> str | None:
    """The release every host should serve after an interrupted switch: the newest that
    deployed successfully among those the hosts run, else the primary's (first) one."""
    present = {release for release in actives.values() if release}
    for record in history:  # newest first
        if record.outcome == "succeeded" and record.release_id in present:
            return record.release_id
    return next(iter(actives.values()), None)
