"""DRILL-RECORD, DRILL-LIST, DRILL-DATABASE, DRILL-TEARDOWN.

DRILL-RECORD and DRILL-LIST keep the measured recovery times of an environment in its
primary's `state.db` (table `drills`) next to the history, so `status` (and a dashboard)
on any machine shows the last drill and its result.

DRILL-DATABASE and DRILL-TEARDOWN are a `drill recover`'s scratch database and the
removal of its scratch host's environment.

A row is a drill (`rollback`, `restore`, `recover`) or a real recovery (`recover` with
`drill` false), with each step's duration: "time to recover" is a measured number.
"""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.op import Empty, Op


@dataclass(frozen=True)
class DrillRecord:
    """One recovery, rehearsed or real: what, when, whether it worked, how long each
    step took (seconds, in order), and a line for the person reading it."""

    kind: str  # rollback | restore | recover
    drill: bool  # False: a real `shipyard recover`
    started_at: float
    seconds: float
    ok: bool
    steps: dict[str, float]
    detail: str
    actor: str


@dataclass(frozen=True)
class DrillListRequest:
    """The newest `limit` records, newest first."""

    limit: int


@dataclass(frozen=True)
class DrillListReply:
    drills: list[DrillRecord]


@dataclass(frozen=True)
class DrillDatabaseRequest:
    """Create (or drop) the scratch database a `drill recover` restores into: the
    database `url` names, on the server it names (never the source's own database)."""

    url: str
    create: bool
    timeout: float


@dataclass(frozen=True)
class DrillTeardownRequest:
    """Stop everything the environment runs on this (scratch) host and remove its
    directory, if and only if its newest deployment is the drill's `deployment_id`."""

    deployment_id: str


DRILL_RECORD = Op("drill-record", DrillRecord, Empty)
DRILL_LIST = Op("drill-list", DrillListRequest, DrillListReply)
DRILL_DATABASE = Op("drill-database", DrillDatabaseRequest, Empty)
DRILL_TEARDOWN = Op("drill-teardown", DrillTeardownRequest, Empty)
