"""Check results counted in slices for the charts, remembered once a slice is complete.

A chart's slices sit on a fixed grid (multiples of the slice length since the epoch), so
a slice that ended more than `settle` seconds ago never changes: it is read from the
store once and kept. Each page view asks the store only for the slices still filling
(and for any the cache does not cover yet), so a 30-day chart reads a few rows per view
instead of every result. Results written later than `settle` after their time would be
missed by a kept slice; the scheduler writes within seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from shipyard.serve.reads import CheckBucket, DashboardStore

SETTLE = 120.0  # seconds after its end when a slice is taken as complete


@dataclass
class _Kept:
    start: int  # first and one past the last slice number kept (absolute: at // slice)
    end: int
    buckets: dict[tuple[str, str, int], CheckBucket] = field(default_factory=dict)


def grid(now: float, span: float, count: int) -> tuple[float, float]:
    """(start, end) of `count` slices ending at the first grid line at or after `now`."""
    slice_s = span / count
    end = math.ceil(now / slice_s) * slice_s
    return end - span, end


class BucketCache:
    def __init__(self, store: DashboardStore, settle: float = SETTLE) -> None:
        self.store = store
        self.settle = settle
        self._kept: dict[tuple[str, float], _Kept] = {}

    def _read(self, env: str, slice_s: float, first: int, last: int) -> list[CheckBucket]:
        """Slices [first, last) of the grid, numbered absolutely."""
        if last <= first:
            return []
        found = self.store.check_buckets(env, first * slice_s, last * slice_s, last - first)
        return [replace(b, index=b.index + first) for b in found]

    def buckets(
        self, env: str, start: float, end: float, count: int, now: float
    ) -> tuple[int, list[CheckBucket]]:
        """The `count` slices from `start` to `end` (on the grid), numbered absolutely,
        with the number of the first (charts subtract it: no copy per view)."""
        slice_s = (end - start) / count
        first, last = round(start / slice_s), round(end / slice_s)
        settled = min(max(math.floor((now - self.settle) / slice_s), first), last)
        kept = self._kept.get((env, slice_s))
        if kept is None or kept.start > first or kept.end < first:
            kept = _Kept(first, first)
            self._kept[(env, slice_s)] = kept
        for bucket in self._read(env, slice_s, kept.end, settled):
            kept.buckets[(bucket.check, bucket.host, bucket.index)] = bucket
        kept.end = max(kept.end, settled)
        if kept.start < first:  # slices that left the period
            kept.buckets = {k: b for k, b in kept.buckets.items() if b.index >= first}
            kept.start = first
        fresh = self._read(env, slice_s, kept.end, last)
        return first, [b for b in [*kept.buckets.values(), *fresh] if first <= b.index < last]
