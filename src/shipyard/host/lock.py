"""One deploy per environment: an atomic lock row on the primary host.

The holder says who, from where, when, why and which pid. A deploy refreshes the
heartbeat as it goes; a lock whose heartbeat stopped (or whose owner pid is gone, when
the owner ran on this very host) is stale. A manual lock (`shipyard lock acquire`)
has no heartbeat and stays until released.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict
from typing import Any

from shipyard.host.state import State
from shipyard.protocol.common import LockHolder, LockInfo

HEARTBEAT_STALE_AFTER = 45.0


def is_stale(
    holder: LockHolder,
    heartbeat_at: float | None,
    now: float,
    this_host: str,
    pid_alive: bool,
) -> bool:
    """Pure: has the lock's owner gone away?

    A manual lock (no heartbeat) belongs to a person, not a process: never stale.
    """
    if heartbeat_at is None:
        return False
    if holder.operator_host == this_host and not pid_alive:
        return True
    return now - heartbeat_at > HEARTBEAT_STALE_AFTER


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(state: State) -> LockInfo | None:
    with state.connect() as db:
        row = db.execute("SELECT * FROM lock WHERE id = 1").fetchone()
    return None if row is None else _view(row)


def _view(row: Any) -> LockInfo:
    holder = LockHolder(**json.loads(row["holder"]))
    stale = is_stale(
        holder, row["heartbeat_at"], time.time(), socket.gethostname(), _pid_alive(holder.pid)
    )
    return LockInfo(
        **asdict(holder),
        acquired_at=row["acquired_at"],
        heartbeat_at=row["heartbeat_at"],
        stale=stale,
    )


def acquire(
    state: State, holder: LockHolder, *, heartbeat: bool, force: bool
) -> tuple[LockInfo | None, LockInfo | None]:
    """Take the lock. Returns (holder that kept it, or None; lock taken over, or None).

    A deploy's lock whose owner is provably gone (stale heartbeat, or a dead pid on this
    host) is taken over, and the take-over reported: that is how the next deploy
    converges after an operator crash. A manual lock is only taken with force.
    """
    now = time.time()
    taken_over = None
    with state.transaction() as db:
        row = db.execute("SELECT * FROM lock WHERE id = 1").fetchone()
        if row is not None:
            view = _view(row)
            if not force and not view.stale:
                return view, None
            taken_over = view
        db.execute("DELETE FROM lock WHERE id = 1")
        db.execute(
            "INSERT INTO lock (id, holder, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?)",
            (json.dumps(asdict(holder)), now, now if heartbeat else None),
        )
    return None, taken_over


def refresh(state: State, deployment_id: str) -> bool:
    """Renew the heartbeat of a deploy's lock; False when that deploy no longer holds it."""
    with state.transaction() as db:
        row = db.execute("SELECT holder FROM lock WHERE id = 1").fetchone()
        if row is None or json.loads(row["holder"]).get("deployment_id") != deployment_id:
            return False
        db.execute("UPDATE lock SET heartbeat_at = ? WHERE id = 1", (time.time(),))
    return True


class NotYourLock(Exception):
    """Releasing a lock someone else holds, without force."""

    def __init__(self, held: LockInfo) -> None:
        super().__init__(held.actor)
        self.held = held


def release(
    state: State, deployment_id: str | None, *, force: bool, actor: str | None = None
) -> LockInfo | None:
    """Release the lock held by deployment_id (a manual lock: by its actor), or any with force.

    Returns what was held.
    """
    with state.transaction() as db:
        row = db.execute("SELECT * FROM lock WHERE id = 1").fetchone()
        if row is None:
            return None
        view = _view(row)
        mine = view.deployment_id == deployment_id and (
            deployment_id is not None or view.actor == actor
        )
        if not force and not mine:
            raise NotYourLock(view)
        db.execute("DELETE FROM lock WHERE id = 1")
    return view
