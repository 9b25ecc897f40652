"""Read-only views: status and logs. Requests and replies: `shipyard.protocol.inspect`."""

from __future__ import annotations

import os
import time
from typing import Any

from shipyard.host import lock as host_lock
from shipyard.host import slots as slot_files
from shipyard.host.context import Context
from shipyard.host.health import probe_once
from shipyard.host.nginx import points_at
from shipyard.host.operations.handler import Handler
from shipyard.host.supervisor import tail
from shipyard.plan.layout import SLOTS
from shipyard.protocol import inspect as proto

PROBE_TIMEOUT = 2.0
FOLLOW_POLL = 0.2


def status(ctx: Context, request: proto.StatusRequest) -> proto.StatusReply:
    layout, state = ctx.layout, ctx.read_state()
    if state is None:
        return proto.StatusReply(
            initialised=False,
            active_slot=None,
            active_release=None,
            slots=[],
            supervisor="DOWN",
            nginx="DOWN",
            nginx_target=None,
            lock=None,
            running_deployments=[],
        )
    supervisor_up = ctx.supervisor.is_running()
    active = state.get_meta("active_slot")
    rows = state.slots()
    slots = []
    for slot in SLOTS:
        row = rows.get(slot)
        process = ctx.slots.web_state(slot) if supervisor_up else "DOWN"
        probe = None
        if process == "RUNNING" and request.probe:
            probe = probe_once(
                slot_files.target(layout, slot), request.health_path, PROBE_TIMEOUT, None
            )
        workers = ctx.slots.worker_states(slot) if supervisor_up else {}
        slots.append(
            proto.SlotStatus(
                slot=slot,
                release_id=row.release_id if row else None,
                state=row.state if row else "stopped",
                retire_at=row.retire_at if row else None,
                process=process,
                workers=workers if supervisor_up else dict.fromkeys(workers, "DOWN"),
                active=slot == active,
                probe=probe,
            )
        )
    return proto.StatusReply(
        initialised=True,
        active_slot=active,
        active_release=state.get_meta("active_release"),
        slots=slots,
        supervisor="RUNNING" if supervisor_up else "DOWN",
        nginx=ctx.supervisor.state("nginx") if supervisor_up else "DOWN",
        nginx_target=points_at(layout),
        lock=host_lock.read(state),
        running_deployments=[d for d in state.deployments(5) if d.outcome == "running"],
    )


def logs(ctx: Context, request: proto.LogsRequest) -> proto.LogsReply:
    layout = ctx.layout
    state = ctx.read_state()
    active = state.get_meta("active_slot") if state else None
    slot = request.slot or active or SLOTS[0]
    path = layout.slot_log(slot)
    lines = tail(path, request.lines)
    if not request.follow:
        return proto.LogsReply(slot=slot, lines=lines)
    for line in lines:  # a one-shot `shipyard host logs` streaming to its stdout
        print(line, flush=True)
    with path.open() if path.exists() else open(os.devnull) as handle:
        handle.seek(0, 2)
        while True:
            line = handle.readline()
            if line:
                print(line.rstrip("\n"), flush=True)
            else:
                time.sleep(FOLLOW_POLL)


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.STATUS, status),
    Handler(proto.LOGS, logs),
]
