"""A slot's processes on this host: what it was booted with, starting and stopping them.

Every process of a slot is a supervisord program named by `program_name` (`web-blue`,
`<worker>-green`); a slot's spec (`run/<slot>.json`, written at BOOT) says what it runs.
"""

from __future__ import annotations

import json

from shipyard.core.files import atomic_write
from shipyard.host.health import Target
from shipyard.host.state import State
from shipyard.host.supervisor import RUNNING_STATES, Supervisor
from shipyard.plan.layout import Layout, program_name
from shipyard.protocol.codec import decode, encode
from shipyard.protocol.specs import SlotSpec

WEB = "web"
GONE_STATES = ("FATAL", "EXITED", "STOPPED", "ABSENT")  # the process is not coming back


def read_spec(layout: Layout, slot: str) -> SlotSpec | None:
    path = layout.slot_spec(slot)
    if not path.exists():
        return None
    return decode(SlotSpec, json.loads(path.read_text()), str(path))


def write_spec(layout: Layout, slot: str, spec: SlotSpec) -> None:
    atomic_write(layout.slot_spec(slot), json.dumps(encode(spec)), mode=0o600)


def workers_of(layout: Layout, slot: str) -> list[str]:
    """The worker types the slot was booted with."""
    spec = read_spec(layout, slot)
    return sorted(spec.workers) if spec else []


def target(layout: Layout, slot: str) -> Target:
    """Where the slot's web process answers: its socket, or its port."""
    spec = read_spec(layout, slot)
    if spec is None or spec.listen_mode == "socket":
        return Target(socket=layout.slot_socket(slot))
    return Target(address=f"127.0.0.1:{spec.port}")


class Slots:
    """Start and stop the processes of this environment's slots."""

    def __init__(self, layout: Layout, supervisor: Supervisor) -> None:
        self.layout = layout
        self.supervisor = supervisor

    def web_state(self, slot: str) -> str:
        return self.supervisor.state(program_name(WEB, slot))

    def worker_states(self, slot: str) -> dict[str, str]:
        return {
            worker: self.supervisor.state(program_name(worker, slot))
            for worker in workers_of(self.layout, slot)
        }

    def start_web(self, slot: str) -> None:
        program = program_name(WEB, slot)
        self.supervisor.refresh_program(program)
        self.supervisor.start(program)

    def start_workers(self, slot: str) -> list[str]:
        """Start the slot's workers that are not running; return the programs started."""
        started = []
        for worker in workers_of(self.layout, slot):
            program = program_name(worker, slot)
            if self.supervisor.state(program) not in RUNNING_STATES:
                self.supervisor.refresh_program(program)
                self.supervisor.start(program)
                started.append(program)
        return started

    def stop_workers(self, slot: str) -> None:
        for worker in workers_of(self.layout, slot):
            self.supervisor.stop(program_name(worker, slot))

    def stop(self, slot: str) -> None:
        """Stop the slot's workers, then its web process."""
        self.stop_workers(slot)
        self.supervisor.stop(program_name(WEB, slot))

    def worst_process(self, slot: str) -> str:
        """RUNNING if the slot's web process and all its workers run, else what is wrong."""
        web = self.web_state(slot)
        if web != "RUNNING":
            return web
        for worker, state in self.worker_states(slot).items():
            if state != "RUNNING":
                return f"{state} (worker {worker})"
        return "RUNNING"


def mark(state: State, slot: str, release_id: str | None, status: str) -> None:
    """Record the slot's state (stopped, booting, healthy, failed...)."""
    with state.transaction() as db:
        state.set_slot(db, slot, release_id=release_id, state=status)


def stop_and_mark_failed(slots: Slots, state: State, slot: str, release_id: str) -> None:
    """A slot that failed a check: its processes stopped, recorded as failed."""
    slots.stop(slot)
    mark(state, slot, release_id, "failed")
