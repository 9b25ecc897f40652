"""The `drills` table of the host's state: each drill's and each real recovery's
measured time, per step. Created on first use (safe on an existing state.db)."""

from __future__ import annotations

import json

from shipyard.host.state import State
from shipyard.protocol.drills import DrillRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    drill INTEGER NOT NULL,
    started_at REAL NOT NULL,
    seconds REAL NOT NULL,
    ok INTEGER NOT NULL,
    steps TEXT NOT NULL,
    detail TEXT NOT NULL,
    actor TEXT NOT NULL
);
"""


def _ready(state: State) -> State:
    with state.connect() as db:
        db.executescript(SCHEMA)
    return state


def add(state: State, record: DrillRecord) -> None:
    with _ready(state).transaction() as db:
        db.execute(
            "INSERT INTO drills (kind, drill, started_at, seconds, ok, steps, detail, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.kind,
                int(record.drill),
                record.started_at,
                record.seconds,
                int(record.ok),
                json.dumps(record.steps),
                record.detail,
                record.actor,
            ),
        )


def newest(state: State, limit: int) -> list[DrillRecord]:
    with _ready(state).connect() as db:
        rows = db.execute(
            "SELECT kind, drill, started_at, seconds, ok, steps, detail, actor FROM drills "
            "ORDER BY started_at DESC, id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [
        DrillRecord(
            kind=str(row[0]),
            drill=bool(row[1]),
            started_at=float(row[2]),
            seconds=float(row[3]),
            ok=bool(row[4]),
            steps={str(k): float(v) for k, v in json.loads(row[5]).items()},
            detail=str(row[6]),
            actor=str(row[7]),
        )
        for row in rows
    ]
