"""Pure decisions about rollbacks: the target, and whether a slot still runs it warm."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from shipyard.errors import ShipyardError
from shipyard.protocol.common import Deployment, ReleaseInfo
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


@dataclass(frozen=True)
class WarmRollback:
    """A rollback decided from the hosts' status alone: one switch per host to `slots`."""

    release_id: str
    previous_release: str | None
    slots: dict[str, str]  # host -> its idle slot still running `release_id`


def warm_rollback(
    statuses: Mapping[str, StatusReply],
    releases: list[ReleaseInfo],
    release: str | None,
) -> WarmRollback | None:
    """The warm rollback the hosts' status proves safe without reading the history, else
    None (then the full path: converge, history, maybe a cold boot).

    Safe means there is nothing for converge to do and the target is beyond doubt:
    every host was deployed, serves the same active release, has supervisord and nginx
    up with nginx on the active slot, and no deployment is still recorded as running
    (an interrupted one needs converging); and every host has an idle slot still
    running one same release warm. The active slot's own health does not matter: a
    rollback moves traffic away from it.

    Without `release`, the warm release is the previous good one: a slot turns warm only
    when a switch moves traffic away from it, so it holds the release that served just
    before the active one, which is the newest release that last deployed successfully
    and is not the active one (what `previous_good_release` finds in the history);
    unless it was marked bad (an automatic rollback left it warm), then: the full path.
    `releases` is the primary's listing (the release must still be there).
    """
    if not statuses:
        return None
    actives = {s.active_release for s in statuses.values()}
    if len(actives) != 1:
        return None
    active = next(iter(actives))
    slots: dict[str, str] = {}
    targets: set[str] = set()
    for host, status in statuses.items():
        if not status.initialised or status.running_deployments or active is None:
            return None
        if status.supervisor != "RUNNING" or status.nginx != "RUNNING":
            return None
        if status.nginx_target != status.active_slot:
            return None
        warm = [
            s
            for s in status.slots
            if not s.active
            and s.release_id
            and s.state == "warm"
            and s.process == "RUNNING"
            and s.release_id != active
        ]
        if len(warm) != 1:
            return None
        slots[host] = warm[0].slot
        targets.add(str(warm[0].release_id))
    if len(targets) != 1:
        return None
    target = next(iter(targets))
    if release is not None and release != target:
        return None
    listed = {r.release_id: r for r in releases}
    if target not in listed:
        return None
    if release is None and listed[target].status == "bad":
        return None
    return WarmRollback(release_id=target, previous_release=active, slots=slots)
