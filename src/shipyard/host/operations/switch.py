"""SWITCH and VERIFY. Requests and replies: `shipyard.protocol.switch`.

A switch is one host operation, so a dropped link cannot cut it in half, and it ends
fully done or fully undone: nginx re-pointed, workers moved, the serving env file
copied, the state recorded; if any step fails, the steps already taken are put back
before the error is answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shipyard.host.context import Context
from shipyard.host.envfile import read_env_file, write_env_file
from shipyard.host.errors import HostOpError
from shipyard.host.guard import slot_guard
from shipyard.host.health import through_nginx, wait_until_healthy
from shipyard.host.nginx import Nginx
from shipyard.host.operations.handler import Handler
from shipyard.host.routes import read_route
from shipyard.plan.layout import Layout
from shipyard.plan.switching import SwitchPlan, plan_switch
from shipyard.protocol import switch as proto

VERIFY_INTERVAL = 0.1


def switch(ctx: Context, request: proto.SwitchRequest) -> proto.SwitchReply:
    layout, state = ctx.layout, ctx.open_state()
    slot = request.slot
    # no release given: switch back to whatever that slot runs (undoing a switch whose
    # reply was lost)
    row = state.slots().get(slot)
    release_id = request.release_id or (row.release_id if row else None)
    with slot_guard(layout):
        process = ctx.slots.web_state(slot)
        if process != "RUNNING":
            raise HostOpError(
                f"refusing to switch to slot {slot}: its process is {process}",
                hint="nothing was switched; run the deploy or rollback again",
            )
        previous = state.get_meta("active_slot")
        previous_release = state.get_meta("active_release")
        log_offset = layout.access_log.stat().st_size if layout.access_log.exists() else 0
        plan = plan_switch(previous, slot, retreat=request.retreat)
        if not plan.noop:
            _switch(ctx, request, plan, previous, release_id)
    if not plan.noop:
        state.event("switch", {"slot": slot, "release_id": release_id, "previous_slot": previous})
    return proto.SwitchReply(
        previous_slot=previous,
        previous_release=previous_release,
        noop=plan.noop,
        log_offset=log_offset,
        switched_at=time.time(),
    )


def _switch(
    ctx: Context,
    request: proto.SwitchRequest,
    plan: SwitchPlan,
    previous: str | None,
    release_id: str | None,
) -> None:
    layout, state, slot = ctx.layout, ctx.open_state(), request.slot
    nginx = ctx.nginx(request.proxy)
    undo: list[Callable[[], None]] = []
    # what can fail goes before traffic moves, so a failure never serves the new slot
    step = "start the new slot's workers"
    try:
        # workers follow the traffic: one generation consumes jobs after the switch
        undo.append(lambda: ctx.slots.stop_workers(slot))
        ctx.slots.start_workers(slot)
        if layout.slot_env(slot).exists():
            # what is serving now, for people running one-off commands on the host
            step = f"copy the serving env file to {layout.env_file}"
            if layout.env_file.is_file():
                old_env = read_env_file(layout.env_file)
                undo.append(lambda: write_env_file(layout.env_file, old_env))
            elif not layout.env_file.exists():
                undo.append(lambda: layout.env_file.unlink(missing_ok=True))
            write_env_file(layout.env_file, read_env_file(layout.slot_env(slot)))
        step = "re-point nginx"
        undo.append(_remember_nginx(layout, nginx, request))
        if request.listen_mode == "socket":
            layout.slot_socket(slot).chmod(0o666)
            nginx.point_at(layout.slot_socket(slot), layout.slot_socket(plan.backup))
        else:
            nginx.route_to(slot, plan.backup)
        if previous:
            left: str = previous
            step = "stop the old slot's workers"
            undo.append(lambda: _start_workers(ctx, left))
            ctx.slots.stop_workers(left)
        step = "record the switch"
        retire_at = time.time() + request.rollback_window
        with state.transaction() as db:
            state.set_meta(db, "active_slot", slot)
            state.set_meta(db, "active_release", release_id)
            state.set_slot(db, slot, release_id=release_id, state="active")
            if previous:
                old = state.slots().get(previous)
                state.set_slot(
                    db,
                    previous,
                    release_id=old.release_id if old else None,
                    state="warm",
                    retire_at=retire_at,
                )
    except (HostOpError, OSError) as exc:
        problems = _run_undo(undo)
        detail = exc.message if isinstance(exc, HostOpError) else str(exc)
        back = (
            "everything was put back as it was"
            if not problems
            else "putting it back also failed (" + "; ".join(problems) + "); "
            "`shipyard repair ENV` points nginx at the active slot again"
        )
        raise HostOpError(
            f"the switch to slot {slot} failed at: {step}: {detail}; {back}",
            hint="fix the cause on the host, then deploy or roll back again",
        ) from None


def _start_workers(ctx: Context, slot: str) -> None:
    ctx.slots.start_workers(slot)  # returns what it started; an undo step returns nothing


def _remember_nginx(
    layout: Layout, nginx: Nginx, request: proto.SwitchRequest
) -> Callable[[], None]:
    """How to put nginx's pointer back as it is now."""
    if request.listen_mode == "socket":
        current = layout.current_socket.readlink() if layout.current_socket.is_symlink() else None
        backup = layout.previous_socket.readlink() if layout.previous_socket.is_symlink() else None

        def restore_links() -> None:
            if current is not None:
                nginx.point_at(current, backup or current)

        return restore_links
    route = read_route(layout)

    def restore_route() -> None:
        if route is not None:
            nginx.route_to(*route)

    return restore_route


def _run_undo(undo: list[Callable[[], None]]) -> list[str]:
    problems = []
    for action in reversed(undo):
        try:
            action()
        except (HostOpError, OSError) as exc:
            problems.append(str(exc))
    return problems


def verify(ctx: Context, request: proto.VerifyRequest) -> proto.VerifyReply:
    target = through_nginx(request.listen, request.server_names)
    verdict = wait_until_healthy(
        target,
        request.health,
        request.release_id,
        interval=VERIFY_INTERVAL,
        deadline=request.deadline,
        threshold=1,
    )
    if not verdict.healthy:
        raise HostOpError(
            f"through nginx at {target.address} the new release did not answer: {verdict.reason}",
            hint=f"check {ctx.layout.logs}/nginx-error.log",
            probes=verdict.probes,
        )
    return proto.VerifyReply(probes=verdict.probes[-1:])


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.SWITCH, switch),
    Handler(proto.VERIFY, verify),
]
