"""REPAIR, STOP-SLOT, RETIRE, CLEANUP, SHUTDOWN. Requests and replies:
`shipyard.protocol.maintenance`."""

from __future__ import annotations

import shutil
import time
from typing import Any

from shipyard.host import build_cache
from shipyard.host import slots as slot_files
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.guard import slot_guard
from shipyard.host.health import wait_until_healthy
from shipyard.host.nginx import Nginx, points_at
from shipyard.host.operations.handler import Handler
from shipyard.host.operations.prepare import proxy
from shipyard.host.reaper import retire_due
from shipyard.host.slots import mark
from shipyard.host.state import State
from shipyard.host.supervisor import RUNNING_STATES, tail
from shipyard.plan.layout import SLOTS
from shipyard.plan.retention import ReleaseDir, releases_to_remove
from shipyard.plan.slots import leftover_slots
from shipyard.protocol import maintenance as proto
from shipyard.protocol.op import Empty
from shipyard.protocol.prepare import ProxyRequest

LOG_TAIL = 50


def repair(ctx: Context, request: proto.RepairRequest) -> proto.RepairReply:
    """Bring this host back to its recorded state (see RepairRequest).

    Used after a host restart (every process gone), by `shipyard repair` and at the
    start of every deploy and rollback.
    """
    layout, state = ctx.layout, ctx.read_state()
    actions: list[str] = []
    if state is None:
        return proto.RepairReply(actions=actions, active_release=None)
    if state.get_meta("active_slot") is None and not ctx.supervisor.is_running():
        return proto.RepairReply(actions=actions, active_release=None)  # never deployed
    # bring back what is configured on this host, exactly as it was: a repair never
    # applies new configuration (that is a deploy's job, with `nginx -t` and a record)
    if not ctx.supervisor.is_running():
        if layout.supervisor_conf.exists():
            ctx.supervisor.start_existing()
        else:
            proxy(
                ctx,
                ProxyRequest(proxy=request.proxy, ports=request.ports, workers=request.workers),
            )
        actions.append("started supervisord")
    nginx = ctx.nginx(request.proxy)
    if not nginx.is_running():
        if layout.server_conf.exists():
            nginx.start()
        else:
            nginx.apply(request.ports)
        actions.append("started nginx")
    active = state.get_meta("active_slot")
    with slot_guard(layout):
        for slot in leftover_slots(state.slots(), active):
            row = state.slots()[slot]
            if ctx.slots.web_state(slot) in RUNNING_STATES:
                ctx.slots.stop(slot)
                actions.append(f"stopped slot {slot} left {row.state} by an interrupted deploy")
            mark(state, slot, row.release_id, "stopped")
    if active is None:
        return proto.RepairReply(actions=actions, active_release=None)
    if ctx.slots.web_state(active) not in RUNNING_STATES:
        ctx.slots.start_web(active)
        actions.append(f"started the active slot {active}")
    for slot in SLOTS:
        if slot != active:
            ctx.slots.stop_workers(slot)
    actions += [f"started worker {p}" for p in ctx.slots.start_workers(active)]
    release = state.get_meta("active_release")
    verdict = wait_until_healthy(
        slot_files.target(layout, active), request.health, release, threshold=1
    )
    if not verdict.healthy:
        raise HostOpError(
            f"the active release {release} is not healthy after repair: {verdict.reason}",
            hint=f"see {layout.slot_log(active)}",
            log_tail=tail(layout.slot_log(active), LOG_TAIL),
        )
    if request.proxy.listen_mode == "socket":
        layout.slot_socket(active).chmod(0o666)
    actions += _point_nginx_at(nginx, state, active, request)
    return proto.RepairReply(actions=actions, active_release=release)


def _point_nginx_at(
    nginx: Nginx, state: State, active: str, request: proto.RepairRequest
) -> list[str]:
    """A switch cut short may have left nginx pointing at a slot that is not the active
    one (everything then served through the backup): point it back."""
    layout = nginx.layout
    pointing = points_at(layout)
    if pointing == active:
        return []
    if request.proxy.listen_mode == "socket":
        nginx.point_at(layout.slot_socket(active), layout.slot_socket(active))
    else:
        nginx.route_to(active, active)
    state.event("repair-pointed-nginx", {"slot": active, "was": pointing})
    return [f"pointed nginx at the active slot {active} (it pointed at {pointing or 'nothing'})"]


def stop_slot(ctx: Context, request: proto.StopSlotRequest) -> Empty:
    """Stop a slot that is not active (used to abort a deploy everywhere)."""
    state = ctx.open_state()
    slot = request.slot
    with slot_guard(ctx.layout):
        if state.get_meta("active_slot") == slot:
            raise HostOpError(f"refusing to stop slot {slot}: it is serving traffic")
        ctx.slots.stop(slot)
        row = state.slots().get(slot)
        mark(state, slot, row.release_id if row else None, "stopped")
    return Empty()


def retire(ctx: Context, request: proto.RetireRequest) -> proto.RetireReply:
    return proto.RetireReply(retired=retire_due(ctx.layout, time.time() + request.ahead))


def cleanup(ctx: Context, request: proto.CleanupRequest) -> proto.CleanupReply:
    layout, state = ctx.layout, ctx.open_state()
    protected = {row.release_id for row in state.slots().values() if row.release_id}
    protected |= set(request.protect)
    releases = state.releases()
    known = {r.release_id: r.prepared_at for r in releases}
    bad = {r.release_id for r in releases if r.status == "bad"}
    dirs = [
        ReleaseDir(p.name, known.get(p.name, p.stat().st_mtime))
        for p in layout.releases.iterdir()
        if p.is_dir() and not p.name.startswith(".")
    ]
    removed = releases_to_remove(dirs, keep=request.keep, bad=bad, protected=protected)
    for name in removed:
        shutil.rmtree(layout.release_dir(name), ignore_errors=True)
        state.forget_release(name)
    for stale in layout.releases.glob(".*.unpacking"):
        shutil.rmtree(stale, ignore_errors=True)
    for part in layout.uploads.glob("*.part"):  # uploads cut short by a dropped link
        part.unlink(missing_ok=True)
    cache_removed = build_cache.prune(layout, request.build_cache_keep)
    return proto.CleanupReply(removed=removed, cache_removed=cache_removed)


def shutdown(ctx: Context, request: Empty) -> Empty:
    """Stop everything this environment runs on the host (apps, its nginx, supervisord)."""
    ctx.supervisor.shutdown()
    return Empty()


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.REPAIR, repair),
    Handler(proto.STOP_SLOT, stop_slot),
    Handler(proto.RETIRE, retire),
    Handler(proto.CLEANUP, cleanup),
    Handler(proto.SHUTDOWN, shutdown),
]
