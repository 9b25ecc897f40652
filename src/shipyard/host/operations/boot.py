"""BOOT and CHECK: start the release in the idle slot; judge it before anything moves.
Requests and replies: `shipyard.protocol.boot`."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from shipyard.host import slots as slot_files
from shipyard.host.context import Context
from shipyard.host.envfile import write_env_file
from shipyard.host.errors import HostOpError
from shipyard.host.guard import slot_guard
from shipyard.host.health import Target, client_for, wait_until_healthy
from shipyard.host.operations.handler import Handler
from shipyard.host.operations.prepare import is_prepared
from shipyard.host.resources import check_memory
from shipyard.host.slots import GONE_STATES, mark, stop_and_mark_failed
from shipyard.host.supervisor import tail
from shipyard.plan.checks import judge_response
from shipyard.plan.layout import SLOTS, Layout, other_slot, program_name
from shipyard.protocol import boot as proto
from shipyard.protocol.specs import SlotSpec

LOG_TAIL = 50
WORKER_POLL = 0.2
SLOT_CHECK_TIMEOUT = 10.0


def boot(ctx: Context, request: proto.BootRequest) -> proto.BootReply:
    layout, state = ctx.layout, ctx.open_state()
    release_id = request.release_id
    if not is_prepared(layout.release_dir(release_id)):
        raise HostOpError(
            f"release {release_id} is not prepared on this host",
            hint="deploy it again (it was removed by cleanup, or its PREPARE failed)",
        )
    with slot_guard(layout):
        active = state.get_meta("active_slot")
        slot = other_slot(active) if active else SLOTS[0]
        # check first, then touch: a refusal leaves the idle slot (maybe the warm
        # rollback target) exactly as it was
        active_info = ctx.supervisor.info(program_name("web", active)) if active else None
        check_memory(
            int(active_info["pid"]) if active_info and active_info.get("pid") else None,
            request.min_free_memory_mb,
        )
        ctx.slots.stop(slot)
        spec = SlotSpec(
            release_id=release_id,
            start=request.start,
            listen_mode=request.listen_mode,
            port=request.ports[SLOTS.index(slot)],
            workers=dict(request.workers),
        )
        slot_files.write_spec(layout, slot, spec)
        write_env_file(layout.slot_env(slot), request.env_values)
        layout.slot_socket(slot).unlink(missing_ok=True)
        mark(state, slot, release_id, "booting")
        ctx.slots.start_web(slot)
        ctx.slots.start_workers(slot)
    state.event("boot", {"slot": slot, "release_id": release_id})
    return proto.BootReply(slot=slot)


def check(ctx: Context, request: proto.CheckRequest) -> proto.CheckReply:
    layout, state = ctx.layout, ctx.open_state()
    slot, release_id = request.slot, request.release_id
    web = program_name("web", slot)

    def gave_up() -> str | None:
        process = ctx.supervisor.state(web)
        if process in GONE_STATES:
            return f"the process is {process} (it exited; see its log below)"
        return None

    target = slot_files.target(layout, slot)
    verdict = wait_until_healthy(target, request.health, release_id, gave_up=gave_up)
    if not verdict.healthy:
        log_tail = tail(layout.slot_log(slot), LOG_TAIL)
        stop_and_mark_failed(ctx.slots, state, slot, release_id)
        state.event(
            "check-failed", {"slot": slot, "release_id": release_id, "reason": verdict.reason}
        )
        raise HostOpError(
            f"release {release_id} never became healthy in slot {slot}: {verdict.reason}",
            hint=f"the old release kept serving; full log: {layout.slot_log(slot)}",
            probes=verdict.probes,
            log_tail=log_tail,
        )
    command_env = _command_env(request, slot, target)
    for name, rules in sorted(request.workers.items()):
        reason = _wait_for_worker(ctx, slot, release_id, name, rules, command_env)
        if reason:
            log_tail = tail(layout.slot_log(slot, name), LOG_TAIL)
            stop_and_mark_failed(ctx.slots, state, slot, release_id)
            raise HostOpError(
                f"worker {name} of release {release_id} is not ready in slot {slot}: {reason}",
                hint=f"nothing was switched; full log: {layout.slot_log(slot, name)}",
                log_tail=log_tail,
            )
    failures = _pre_switch_failures(layout, request, slot, target, command_env)
    if failures:
        stop_and_mark_failed(ctx.slots, state, slot, release_id)
        raise HostOpError(
            f"release {release_id} failed its pre-switch checks in slot {slot}: "
            + "; ".join(failures),
            hint="nothing was switched; the old release kept serving",
            log_tail=tail(layout.slot_log(slot), LOG_TAIL),
        )
    if request.listen_mode == "socket":
        # nginx's workers run as another user: let them connect to this socket
        layout.slot_socket(slot).chmod(0o666)
    mark(state, slot, release_id, "healthy")
    return proto.CheckReply(healthy=True, probes=verdict.probes[-3:])


def _command_env(request: proto.CheckRequest, slot: str, target: Target) -> dict[str, str]:
    """What readiness and pre-switch commands see: the agent's environment, the app's
    `env` values (never its secrets) and where the slot answers."""
    env = dict(os.environ) | request.app_env
    env |= {"SHIPYARD_RELEASE": request.release_id, "SHIPYARD_SLOT": slot}
    if target.socket:
        env["SHIPYARD_SLOT_URL"] = "http://localhost"
        env["SHIPYARD_SLOT_SOCKET"] = str(target.socket)
    else:
        env["SHIPYARD_SLOT_URL"] = f"http://{target.address}"
    return env


def _wait_for_worker(
    ctx: Context,
    slot: str,
    release_id: str,
    name: str,
    rules: proto.WorkerReadiness,
    command_env: dict[str, str],
) -> str:
    """Wait until the worker is ready; return why it is not ("" when it is)."""
    program = program_name(name, slot)
    deadline = time.monotonic() + rules.readiness_timeout
    reason = ""
    # (pid, first seen): a crash-looping worker changes pid and never stays up long enough
    watched: tuple[int, float] = (0, 0.0)
    while True:
        info = ctx.supervisor.info(program) or {}
        process = str(info.get("statename", "ABSENT"))
        if process in GONE_STATES:
            return f"the process is {process}"
        if rules.readiness_command:
            result = subprocess.run(
                ["sh", "-c", rules.readiness_command],
                cwd=ctx.layout.release_dir(release_id),
                env=command_env,
                capture_output=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
            if result.returncode == 0:
                return ""
            reason = f"readiness command exited {result.returncode}"
        else:
            pid = int(info.get("pid") or 0)
            if process != "RUNNING" or pid != watched[0]:
                watched = (pid, time.monotonic())
            elif time.monotonic() - watched[1] >= rules.ready_after:
                return ""
            reason = f"not running for {rules.ready_after:g}s without a restart ({process})"
        if time.monotonic() >= deadline:
            return f"not ready within {rules.readiness_timeout:g}s: {reason}"
        time.sleep(WORKER_POLL)


def _pre_switch_failures(
    layout: Layout,
    request: proto.CheckRequest,
    slot: str,
    target: Target,
    command_env: dict[str, str],
) -> list[str]:
    """The pre-switch checks against the new slot itself; what failed."""
    import httpx

    failures = []
    base = "http://slot" if target.socket else f"http://{target.address}"
    for check in request.pre_switch.http:
        try:
            response = client_for(target, SLOT_CHECK_TIMEOUT).get(base + check.path)
        except httpx.HTTPError as exc:
            failures.append(f"GET {check.path}: {exc}")
            continue
        problem = judge_response(check, response.status_code, response.text)
        if problem:
            failures.append(f"GET {check.path}: {problem}")
    command = request.pre_switch.command
    if command and not failures:
        try:
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=layout.release_dir(request.release_id),
                env=command_env,
                capture_output=True,
                text=True,
                timeout=request.pre_switch.command_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [f"pre-switch command timed out after {request.pre_switch.command_timeout:g}s"]
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-20:]
            failures.append(f"pre-switch command exited {result.returncode}: " + " | ".join(output))
    return failures


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.BOOT, boot),
    Handler(proto.CHECK, check),
]
