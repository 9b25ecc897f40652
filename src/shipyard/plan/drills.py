"""Drills and recoveries, decided: which records `status` shows (the newest of each kind,
a real recovery apart from drills) and how one reads."""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.protocol.drills import DrillRecord

KINDS = ("rollback", "restore", "recover")


def latest(records: Iterable[DrillRecord]) -> list[DrillRecord]:
    """The newest record of each drill kind, then the newest real recovery."""
    newest: dict[tuple[bool, str], DrillRecord] = {}
    for record in records:
        key = (record.drill, record.kind)
        best = newest.get(key)
        if best is None or record.started_at > best.started_at:
            newest[key] = record
    order = [(True, kind) for kind in KINDS] + [(False, "recover")]
    return [newest[key] for key in order if key in newest]


def describe(record: DrillRecord) -> str:
    """`drill restore: ok, recovered in 12.3s (verify 8.1s, ...)`."""
    what = f"drill {record.kind}" if record.drill else "recovery"
    result = "ok" if record.ok else "FAILED"
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in record.steps.items())
    return (
        f"{what}: {result}, {record.seconds:.1f}s"
        + (f" ({steps})" if steps else "")
        + (f": {record.detail}" if record.detail else "")
    )
