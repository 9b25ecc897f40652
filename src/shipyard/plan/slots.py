"""Pure decisions about slots on one host: leftovers to stop, warm slots to retire."""

from __future__ import annotations

from shipyard.protocol.common import SlotRow


def leftover_slots(slots: dict[str, SlotRow], active: str | None) -> list[str]:
    """Slots an interrupted deploy left booting, healthy or failed: neither serving nor
    kept warm for a rollback. A repair stops them."""
    return sorted(
        name
        for name, row in slots.items()
        if name != active and row.state not in ("warm", "stopped")
    )


def due_to_retire(slots: dict[str, SlotRow], active: str | None, now: float) -> list[str]:
    """Warm slots whose rollback window has passed (never the active one)."""
    return sorted(
        name
        for name, row in slots.items()
        if name != active and row.retire_at is not None and row.retire_at <= now
    )
