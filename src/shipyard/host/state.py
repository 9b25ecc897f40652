"""Per-host state in SQLite (WAL): slots, releases, deployments, events, the lock.

Each call opens a short-lived connection; writers use BEGIN IMMEDIATE so two
operations on one host serialise instead of interleaving. The database is opened
explicitly: `State.create` (making it if it is missing) for operations that record
something, `State.existing` (None on a host never deployed to) for those that only read.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shipyard.protocol.codec import decode, encode
from shipyard.protocol.common import (
    Deployment,
    DeploymentStart,
    Event,
    ReleaseInfo,
    ReleaseManifest,
    SlotRow,
)
from shipyard.protocol.records import Approval

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slots (
    slot TEXT PRIMARY KEY,
    release_id TEXT,
    state TEXT NOT NULL DEFAULT 'stopped',
    started_at REAL,
    retire_at REAL
);
CREATE TABLE IF NOT EXISTS releases (
    release_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    manifest TEXT NOT NULL,
    prepared_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'prepared',
    runtime TEXT
);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    release_id TEXT NOT NULL,
    previous_release_id TEXT,
    commit_sha TEXT,
    commit_time TEXT,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    message TEXT,
    hosts TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT NOT NULL DEFAULT 'running',
    error TEXT,
    phases TEXT NOT NULL DEFAULT '{}',
    analysis TEXT,
    checks TEXT,
    promoted_from TEXT,
    runtime TEXT,
    backups TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    deployment_id TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approvals (
    release_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    at REAL NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    acquired_at REAL NOT NULL,
    heartbeat_at REAL
);
"""


class State:
    """The environment's state database on this host."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path) -> State:
        """Open the database, creating it (and its tables) if it is not there yet."""
        state = cls(path)
        fresh = not path.exists()
        with state.connect() as db:
            db.executescript(SCHEMA)
            added = {
                "deployments": ("analysis", "checks", "promoted_from", "runtime", "backups"),
                "releases": ("runtime",),
            }
            for table, wanted in added.items():
                columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                for column in wanted:
                    if column not in columns:  # state.db written by an older Shipyard
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
        if fresh:
            path.chmod(0o600)
        return state

    @classmethod
    def existing(cls, path: Path) -> State | None:
        """The database if this host was ever deployed to, else None."""
        return cls.create(path) if path.exists() else None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # meta -------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, db: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # slots ------------------------------------------------------------
    def slots(self) -> dict[str, SlotRow]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM slots").fetchall()
        return {row["slot"]: SlotRow(**dict(row)) for row in rows}

    def set_slot(
        self,
        db: sqlite3.Connection,
        slot: str,
        *,
        release_id: str | None,
        state: str,
        retire_at: float | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO slots (slot, release_id, state, started_at, retire_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(slot) DO UPDATE SET "
            "release_id = excluded.release_id, state = excluded.state, "
            "started_at = CASE WHEN excluded.state = 'booting' THEN excluded.started_at "
            "ELSE slots.started_at END, retire_at = excluded.retire_at",
            (slot, release_id, state, time.time(), retire_at),
        )

    # releases ---------------------------------------------------------
    def record_release(
        self,
        release_id: str,
        digest: str,
        manifest: ReleaseManifest,
        runtime: dict[str, Any] | None = None,
    ) -> None:
        """Record a prepared release and the runtime spec it is deployed with (kept when
        a later request carries none)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO releases (release_id, digest, manifest, prepared_at, runtime) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(release_id) DO UPDATE SET "
                "digest = excluded.digest, manifest = excluded.manifest, "
                "runtime = COALESCE(excluded.runtime, releases.runtime)",
                (
                    release_id,
                    digest,
                    json.dumps(encode(manifest)),
                    time.time(),
                    json.dumps(runtime) if runtime is not None else None,
                ),
            )

    def set_release_status(self, release_id: str, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE releases SET status = ? WHERE release_id = ?", (status, release_id))

    def releases(self) -> list[ReleaseInfo]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM releases ORDER BY prepared_at DESC").fetchall()
        result = []
        for row in rows:
            item = dict(row)
            # manifests written before gate reports were recorded have no `gates`
            item["manifest"] = {"gates": None, **json.loads(item["manifest"])}
            item["runtime"] = json.loads(item["runtime"]) if item.get("runtime") else None
            result.append(decode(ReleaseInfo, item, "releases"))
        return result

    def forget_release(self, release_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM releases WHERE release_id = ?", (release_id,))

    # deployments ------------------------------------------------------
    def start_deployment(self, start: DeploymentStart) -> None:
        record = encode(start)
        with self.transaction() as db:
            db.execute(
                "INSERT INTO deployments (id, kind, release_id, previous_release_id, "
                "commit_sha, commit_time, trigger, actor, message, hosts, started_at, "
                "promoted_from, runtime) "
                "VALUES (:id, :kind, :release_id, :previous_release_id, :commit_sha, "
                ":commit_time, :trigger, :actor, :message, :hosts, :started_at, :promoted_from, "
                ":runtime)",
                {
                    **record,
                    "hosts": json.dumps(record["hosts"]),
                    "promoted_from": json.dumps(record.get("promoted_from")),
                    "runtime": json.dumps(record.get("runtime")),
                },
            )

    def update_deployment(
        self,
        deployment_id: str,
        *,
        phases: dict[str, float] | None = None,
        outcome: str | None = None,
        error: str | None = None,
        previous_release_id: str | None = None,
        analysis: dict[str, Any] | None = None,
        checks: dict[str, Any] | None = None,
        finished: bool = False,
        backups: list[Any] | None = None,
    ) -> None:
        with self.transaction() as db:
            row = db.execute(
                "SELECT phases FROM deployments WHERE id = ?", (deployment_id,)
            ).fetchone()
            if row is None:
                return
            merged = json.loads(row["phases"]) | (phases or {})
            db.execute(
                "UPDATE deployments SET phases = ?, outcome = COALESCE(?, outcome), "
                "error = COALESCE(?, error), "
                "previous_release_id = COALESCE(?, previous_release_id), "
                "analysis = COALESCE(?, analysis), checks = COALESCE(?, checks), "
                "backups = COALESCE(?, backups), "
                "finished_at = CASE WHEN ? THEN ? ELSE finished_at END WHERE id = ?",
                (
                    json.dumps(merged),
                    outcome,
                    error,
                    previous_release_id,
                    json.dumps(analysis) if analysis is not None else None,
                    json.dumps(checks) if checks is not None else None,
                    json.dumps(backups) if backups is not None else None,
                    finished,
                    time.time(),
                    deployment_id,
                ),
            )

    def deployments(self, limit: int) -> list[Deployment]:
        with self.connect() as db:
            rows = db.execute(
                "SELECT * FROM deployments ORDER BY started_at DESC LIMIT ?", (limit,)
            ).fetchall()
        result = []
        for row in rows:
            item = dict(row)
            item["phases"] = json.loads(item["phases"])
            item["hosts"] = json.loads(item["hosts"])
            for column in ("analysis", "checks", "promoted_from", "runtime", "backups"):
                item[column] = json.loads(item[column]) if item[column] else None
            result.append(decode(Deployment, item, "deployments"))
        return result

    def event(self, kind: str, detail: dict[str, Any], deployment_id: str | None = None) -> None:
        self.events_add([(kind, detail)], deployment_id)

    def events_add(
        self, events: list[tuple[str, dict[str, Any]]], deployment_id: str | None
    ) -> None:
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO events (at, deployment_id, kind, detail) VALUES (?, ?, ?, ?)",
                [(now, deployment_id, kind, json.dumps(detail)) for kind, detail in events],
            )

    def events(self, after_id: int, limit: int, deployment_id: str | None) -> list[Event]:
        query = "SELECT * FROM events WHERE id > ?"
        args: list[Any] = [after_id]
        if deployment_id is not None:
            query += " AND deployment_id = ?"
            args.append(deployment_id)
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [
            Event(
                id=row["id"],
                at=row["at"],
                deployment_id=row["deployment_id"],
                kind=row["kind"],
                detail=json.loads(row["detail"]),
            )
            for row in rows
        ]

    # approvals ----------------------------------------------------------
    def approve(self, release_id: str, actor: str, note: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO approvals (release_id, actor, at, note) VALUES (?, ?, ?, ?)",
                (release_id, actor, time.time(), note),
            )

    def approvals(self, release_id: str) -> list[Approval]:
        with self.connect() as db:
            rows = db.execute(
                "SELECT * FROM approvals WHERE release_id = ? ORDER BY at", (release_id,)
            ).fetchall()
        return [
            Approval(
                release_id=row["release_id"],
                actor=row["actor"],
                at=row["at"],
                note=row["note"] or "",
            )
            for row in rows
        ]
