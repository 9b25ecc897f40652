"""DRILL-RECORD, DRILL-LIST. Requests and replies: `shipyard.protocol.drills`."""

from __future__ import annotations

from typing import Any

from shipyard.host import drill_records
from shipyard.host.context import Context
from shipyard.host.operations.handler import Handler
from shipyard.protocol import drills as proto
from shipyard.protocol.op import Empty


def drill_record(ctx: Context, request: proto.DrillRecord) -> Empty:
    drill_records.add(ctx.open_state(), request)
    return Empty()


def drill_list(ctx: Context, request: proto.DrillListRequest) -> proto.DrillListReply:
    state = ctx.read_state()
    if state is None:  # not deployed yet: leave no state.db behind
        return proto.DrillListReply(drills=[])
    return proto.DrillListReply(drills=drill_records.newest(state, request.limit))


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.DRILL_RECORD, drill_record),
    Handler(proto.DRILL_LIST, drill_list),
]
