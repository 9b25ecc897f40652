"""DRILL-RECORD, DRILL-LIST: the measured recovery times of an environment, kept in its
primary's `state.db` (table `drills`) next to the history, so `status` (and a dashboard)
on any machine shows the last drill and its result.

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


DRILL_RECORD = Op("drill-record", DrillRecord, Empty)
DRILL_LIST = Op("drill-list", DrillListRequest, DrillListReply)
