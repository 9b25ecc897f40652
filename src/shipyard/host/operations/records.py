"""Records: hello, the deploy lock, deployment records, history, events, approvals,
releases. Requests and replies: `shipyard.protocol.records`."""

from __future__ import annotations

import shutil
import socket
import sys
from dataclasses import asdict
from typing import Any

from shipyard import __version__
from shipyard.host import lock as host_lock
from shipyard.host.context import Context, create_tree
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.protocol import lock as lock_ops
from shipyard.protocol import records as proto
from shipyard.protocol.op import PROTOCOL_VERSION, Empty


def hello(ctx: Context, request: proto.HelloRequest) -> proto.HelloReply:
    layout = ctx.layout
    too_long = layout.too_long_socket_paths()
    if too_long:
        raise HostOpError(
            f"socket path too long for this OS: {too_long[0]}",
            hint="choose a shorter `root` (unix socket paths are limited to 107 bytes)",
        )
    create_tree(layout)
    return proto.HelloReply(
        version=__version__,
        protocol=PROTOCOL_VERSION,
        python=sys.version.split()[0],
        hostname=socket.gethostname(),
        free_disk_bytes=shutil.disk_usage(layout.base).free,
    )


def lock_status(ctx: Context, request: Empty) -> lock_ops.LockStatusReply:
    state = ctx.read_state()
    return lock_ops.LockStatusReply(lock=host_lock.read(state) if state else None)


def lock_acquire(ctx: Context, request: lock_ops.LockAcquireRequest) -> lock_ops.LockAcquireReply:
    state = ctx.open_state()
    holder = request.holder
    current, taken_over = host_lock.acquire(
        state, holder, heartbeat=request.heartbeat, force=request.force
    )
    if current is not None:
        return lock_ops.LockAcquireReply(acquired=False, lock=current, taken_over=None)
    if taken_over is not None:
        state.event("lock-taken-over", asdict(taken_over), holder.deployment_id)
    state.event("lock-acquired", asdict(holder), holder.deployment_id)
    return lock_ops.LockAcquireReply(acquired=True, lock=None, taken_over=taken_over)


def lock_refresh(ctx: Context, request: lock_ops.LockRefreshRequest) -> lock_ops.LockRefreshReply:
    state = ctx.read_state()
    held = state is not None and host_lock.refresh(state, request.deployment_id)
    return lock_ops.LockRefreshReply(held=held)


def lock_release(ctx: Context, request: lock_ops.LockReleaseRequest) -> lock_ops.LockReleaseReply:
    state = ctx.read_state()
    if state is None:
        return lock_ops.LockReleaseReply(released=None)
    try:
        view = host_lock.release(
            state, request.deployment_id, force=request.force, actor=request.actor
        )
    except host_lock.NotYourLock as exc:
        held = exc.held
        raise HostOpError(
            f"the lock is held by {held.actor} ({held.reason}), not by you",
            hint="use `shipyard lock release ENV --force` if you are sure it is abandoned",
        ) from None
    if view is not None:
        state.event("lock-released", asdict(view), request.deployment_id)
    return lock_ops.LockReleaseReply(released=view)


def record_start(ctx: Context, request: proto.RecordStartRequest) -> Empty:
    ctx.open_state().start_deployment(request.deployment)
    return Empty()


def record_update(ctx: Context, request: proto.RecordUpdateRequest) -> Empty:
    state = ctx.open_state()
    state.update_deployment(
        request.deployment_id,
        phases=request.phases,
        outcome=request.outcome,
        error=request.error,
        previous_release_id=request.previous_release_id,
        analysis=request.analysis,
        checks=request.checks,
        finished=request.finished,
        backups=request.backups,
    )
    if not request.finished:
        host_lock.refresh(state, request.deployment_id)
    return Empty()


def record_progress(ctx: Context, request: proto.RecordProgressRequest) -> Empty:
    events: list[tuple[str, dict[str, Any]]] = [("phase", asdict(e)) for e in request.events]
    ctx.open_state().events_add(events, request.deployment_id)
    return Empty()


def history(ctx: Context, request: proto.HistoryRequest) -> proto.HistoryReply:
    state = ctx.read_state()
    if state is None:
        return proto.HistoryReply(initialised=False, deployments=[])
    return proto.HistoryReply(initialised=True, deployments=state.deployments(request.limit))


def events(ctx: Context, request: proto.EventsRequest) -> proto.EventsReply:
    state = ctx.read_state()
    if state is None:
        return proto.EventsReply(events=[])
    found = state.events(request.after_id, request.limit, request.deployment_id)
    return proto.EventsReply(events=found)


def approval_list(ctx: Context, request: proto.ApprovalListRequest) -> proto.ApprovalsReply:
    state = ctx.read_state()
    return proto.ApprovalsReply(approvals=state.approvals(request.release_id) if state else [])


def approval_add(ctx: Context, request: proto.ApprovalAddRequest) -> proto.ApprovalsReply:
    state = ctx.open_state()
    state.approve(request.release_id, request.actor, request.note)
    state.event("approved", {"release_id": request.release_id, "actor": request.actor})
    return proto.ApprovalsReply(approvals=state.approvals(request.release_id))


def releases(ctx: Context, request: Empty) -> proto.ReleasesReply:
    state = ctx.read_state()
    if state is None:
        return proto.ReleasesReply(initialised=False, releases=[], slots={}, active_slot=None)
    directory = ctx.layout.releases
    present = {p.name for p in directory.iterdir() if p.is_dir()} if directory.exists() else set()
    return proto.ReleasesReply(
        initialised=True,
        releases=[r for r in state.releases() if r.release_id in present],
        slots=state.slots(),
        active_slot=state.get_meta("active_slot"),
    )


def set_release_status(ctx: Context, request: proto.SetReleaseStatusRequest) -> Empty:
    ctx.open_state().set_release_status(request.release_id, request.status)
    return Empty()


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.HELLO, hello),
    Handler(lock_ops.LOCK_STATUS, lock_status),
    Handler(lock_ops.LOCK_ACQUIRE, lock_acquire),
    Handler(lock_ops.LOCK_REFRESH, lock_refresh),
    Handler(lock_ops.LOCK_RELEASE, lock_release),
    Handler(proto.RECORD_START, record_start),
    Handler(proto.RECORD_UPDATE, record_update),
    Handler(proto.RECORD_PROGRESS, record_progress),
    Handler(proto.HISTORY, history),
    Handler(proto.EVENTS, events),
    Handler(proto.APPROVAL_LIST, approval_list),
    Handler(proto.APPROVAL_ADD, approval_add),
    Handler(proto.RELEASES, releases),
    Handler(proto.SET_RELEASE_STATUS, set_release_status),
]
