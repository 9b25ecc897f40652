"""OBSERVE: one interval of the post-switch analysis on this host.
Requests and replies: `shipyard.protocol.observe`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.host.context import Context
from shipyard.host.health import judge, probe_once, through_nginx
from shipyard.host.operations.handler import Handler
from shipyard.plan.analysis import LogEntry, parse_access_line, summarise
from shipyard.plan.layout import SLOTS
from shipyard.protocol import observe as proto


def observe_sample(ctx: Context, request: proto.ObserveSampleRequest) -> proto.ObserveSampleReply:
    layout = ctx.layout
    state = ctx.read_state()
    entries, offset = _new_log_lines(layout.access_log, request.offset)
    active = (state.get_meta("active_slot") if state else None) or SLOTS[0]
    if request.listen_mode == "socket":
        new_upstream = f"unix:{layout.current_socket}"
    else:
        new_upstream = f"127.0.0.1:{request.ports[SLOTS.index(active)]}"
    traffic = summarise(entries, new_upstream, request.since)
    health = request.health
    probe = probe_once(
        through_nginx(request.listen, request.server_names),
        health.path,
        health.timeout,
        health.release_header,
    )
    ok, detail = judge(probe, health.status, request.release_id)
    return proto.ObserveSampleReply(
        offset=offset,
        traffic=traffic,
        probe=proto.ProbeJudgement(ok=ok, detail=detail if ok else f"{probe.describe()}: {detail}"),
        process=ctx.slots.worst_process(active),
    )


def _new_log_lines(path: Path, offset: int) -> tuple[list[LogEntry], int]:
    """Access-log entries written since `offset`, and the offset to read from next time
    (a half-written last line is left for then; a rotated log starts again at 0)."""
    size = path.stat().st_size if path.exists() else 0
    if size < offset:
        offset = 0
    if size <= offset:
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(size - offset)
    complete = data.rfind(b"\n") + 1
    entries = []
    for raw in data[:complete].decode(errors="replace").splitlines():
        entry = parse_access_line(raw)
        if entry is not None:
            entries.append(entry)
    return entries, offset + complete


HANDLERS: list[Handler[Any, Any]] = [Handler(proto.OBSERVE_SAMPLE, observe_sample)]
