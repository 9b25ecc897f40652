"""Pure decisions of a rolling deploy: which hosts switch together, in which order.

The hosts keep the order of the configuration, so the primary (the first host) is
always in the first batch. Every host is in exactly one batch. Without `rollout`, all
hosts are one batch (the deploy switches them together, as before).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from shipyard.config.rollout import Rollout

T = TypeVar("T")


def per_batch(rollout: Rollout | None, fleet: int) -> int:
    """Hosts per batch for a fleet of `fleet` hosts: the count (at most the fleet), or
    the percentage rounded up (at least one host)."""
    if fleet < 1:
        return 0
    if rollout is None:
        return fleet
    percent = rollout.percent
    if percent is None:
        return max(1, min(int(rollout.batch), fleet))
    return max(1, min(fleet, math.ceil(fleet * percent / 100)))


def batches(hosts: Sequence[T], rollout: Rollout | None) -> list[list[T]]:
    """`hosts` cut, in order, into consecutive batches (the last one may be smaller)."""
    step = per_batch(rollout, len(hosts))
    return [list(hosts[i : i + step]) for i in range(0, len(hosts), step)] if step else []


def rollout_record(
    plan: Sequence[Sequence[str]], switched_batches: int, failed_batch: int | None
) -> dict[str, object]:
    """What a deployment record keeps of a rollout: the batches (host labels), how many
    switched, and which one failed (1-based; None if none did)."""
    return {
        "batches": [list(batch) for batch in plan],
        "switched_batches": switched_batches,
        "failed_batch": None if failed_batch is None else failed_batch + 1,
    }
