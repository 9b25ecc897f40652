"""DRILL-RECORD, DRILL-LIST, DRILL-DATABASE, DRILL-TEARDOWN.

Requests and replies: `shipyard.protocol.drills`.
"""

from __future__ import annotations

import shutil
from typing import Any

from shipyard.host import drill_records
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.host.postgres import Postgres
from shipyard.protocol import drills as proto
from shipyard.protocol.op import Empty

SCRATCH_PREFIX = "shipyard_drill_"  # as plan.drills names them (the host imports no plan)


def drill_record(ctx: Context, request: proto.DrillRecord) -> Empty:
    drill_records.add(ctx.open_state(), request)
    return Empty()


def drill_list(ctx: Context, request: proto.DrillListRequest) -> proto.DrillListReply:
    state = ctx.read_state()
    if state is None:  # not deployed yet: leave no state.db behind
        return proto.DrillListReply(drills=[])
    return proto.DrillListReply(drills=drill_records.newest(state, request.limit))


def drill_database(ctx: Context, request: proto.DrillDatabaseRequest) -> Empty:
    pg = Postgres("drill", request.url, request.timeout)
    if not pg.database.startswith(SCRATCH_PREFIX):
        raise HostOpError(f"refusing to touch database {pg.database!r}: not a drill's scratch")
    if request.create:
        pg.run(["createdb", pg.database], what="createdb (a drill's scratch database)")
    else:
        pg.drop(pg.database)
    return Empty()


def drill_teardown(ctx: Context, request: proto.DrillTeardownRequest) -> Empty:
    state = ctx.read_state()
    if state is None:
        return Empty()  # nothing here (a recovery that failed before it recorded anything)
    newest = state.deployments(limit=1)
    if newest and newest[0].id != request.deployment_id:
        raise HostOpError(
            f"refusing to tear down {ctx.layout.base}: its newest deployment is not the "
            f"drill's ({request.deployment_id})",
            hint="a drill only removes the environment it recovered onto a scratch host",
        )
    ctx.supervisor.shutdown()
    shutil.rmtree(ctx.layout.base, ignore_errors=True)
    return Empty()


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.DRILL_RECORD, drill_record),
    Handler(proto.DRILL_LIST, drill_list),
    Handler(proto.DRILL_DATABASE, drill_database),
    Handler(proto.DRILL_TEARDOWN, drill_teardown),
]
