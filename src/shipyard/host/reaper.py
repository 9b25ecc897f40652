"""Stop warm slots whose rollback window has passed. Runs under the env's supervisord."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from shipyard.core.files import atomic_symlink
from shipyard.host.guard import slot_guard
from shipyard.host.routes import read_route, set_route
from shipyard.host.slots import Slots, mark
from shipyard.host.state import State
from shipyard.host.supervisor import Supervisor
from shipyard.plan.layout import Layout
from shipyard.plan.slots import due_to_retire

POLL_SECONDS = 2.0


def retire_due(layout: Layout, now: float) -> list[str]:
    """Stop every slot past its retire time that is not the active one; return their names."""
    state = State.existing(layout.state_db)
    if state is None:
        return []
    slots = Slots(layout, Supervisor(layout))
    with slot_guard(layout):
        active = state.get_meta("active_slot")
        rows = state.slots()
        retired = due_to_retire(rows, active, now)
        for slot in retired:
            slots.stop(slot)
            mark(state, slot, rows[slot].release_id, "stopped")
            state.event("retired", {"slot": slot, "release_id": rows[slot].release_id})
        if retired and active and layout.previous_socket.is_symlink():
            # the backup is gone: a retried request goes to the active slot, not to nothing
            target = layout.slot_socket(active)
            if layout.previous_socket.resolve() != target.resolve():
                atomic_symlink(target, layout.previous_socket)
        route = read_route(layout)
        if retired and active and route is not None and route != (active, active):
            set_route(layout, active, active)  # the same, in tcp mode
    return retired


def main(argv: list[str]) -> int:
    layout = Layout.of_base(Path(argv[0]))
    while True:
        try:
            for slot in retire_due(layout, time.time()):
                print(f"retired slot {slot}", flush=True)
        except Exception as exc:  # keep reaping; the next round may succeed
            print(f"reaper: {exc!r}", flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
