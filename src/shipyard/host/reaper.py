"""Stop warm slots whose rollback window has passed. Runs under the env's supervisord."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from shipyard.host.guard import slot_guard
from shipyard.host.layout import Layout
from shipyard.host.nginx import atomic_symlink
from shipyard.host.state import State
from shipyard.host.supervisor import Supervisor

POLL_SECONDS = 2.0


def retire_due(layout: Layout, now: float) -> list[str]:
    """Stop every slot past its retire time that is not the active one; return their names."""
    from shipyard.host.ops import stop_slot_processes

    state = State(layout.state_db)
    supervisor = Supervisor(layout)
    retired = []
    with slot_guard(layout):
        active = state.get_meta("active_slot")
        for slot, row in state.slots().items():
            if row["retire_at"] is None or row["retire_at"] > now or slot == active:
                continue
            stop_slot_processes(supervisor, layout, slot)
            with state.transaction() as db:
                state.set_slot(db, slot, release_id=row["release_id"], state="stopped")
            state.event("retired", {"slot": slot, "release_id": row["release_id"]})
            retired.append(slot)
        if retired and active and layout.previous_socket.is_symlink():
            # the backup is gone: a retried request goes to the active slot, not to nothing
            target = layout.slot_socket(active)
            if layout.previous_socket.resolve() != target.resolve():
                atomic_symlink(target, layout.previous_socket)
    return retired


def main(argv: list[str]) -> int:
    base = Path(argv[0])
    layout = Layout(base.parent.parent, base.parent.name, base.name)
    while True:
        try:
            for slot in retire_due(layout, time.time()):
                print(f"retired slot {slot}", flush=True)
        except Exception as exc:  # keep reaping; the next round may succeed
            print(f"reaper: {exc!r}", flush=True)
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
