"""Pure decisions about rollbacks and cleanup."""

from __future__ import annotations

from typing import Any


class NoRollbackTarget(Exception):
    pass


def previous_good_release(
    deployments: list[dict[str, Any]], active_release: str | None, bad: set[str], present: set[str]
) -> str:
    """The newest release that last deployed successfully, is not active, bad or removed."""
    for record in deployments:  # newest first
        release = record["release_id"]
        if record["outcome"] != "succeeded" or release == active_release:
            continue
        if release in bad or release not in present:
            continue
        return str(release)
    raise NoRollbackTarget("no earlier good release to roll back to (see `shipyard releases ENV`)")


def warm_slot(status: dict[str, Any], release_id: str) -> str | None:
    """The idle slot on one host still running `release_id` (inside the rollback window)."""
    for slot in status.get("slots", []):
        if (
            not slot["active"]
            and slot["release_id"] == release_id
            and slot["state"] == "warm"
            and slot["process"] == "RUNNING"
        ):
            return str(slot["slot"])
    return None
