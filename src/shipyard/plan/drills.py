"""Drills and recoveries, decided: which records `status` shows (the newest of each kind,
a real recovery apart from drills) and how one reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from shipyard.config.backup import Backup, PostgresSource
from shipyard.protocol.drills import DrillRecord

SCRATCH_PREFIX = "shipyard_drill_"  # the host refuses to create or drop any other

KINDS = ("rollback", "restore", "recover")


def latest(records: Iterable[DrillRecord]) -> list[DrillRecord]:
    """The newest record of each drill kind, then the newest real recovery."""
    newest: dict[tuple[bool, str], DrillRecord] = {}
    for record in records:
        key = (record.drill, record.kind)
        best = newest.get(key)
        if best is None or record.started_at > best.started_at:
            newest[key] = record
    order = [(True, kind) for kind in KINDS] + [(False, "recover")]
    return [newest[key] for key in order if key in newest]


def describe(record: DrillRecord) -> str:
    """`drill restore: ok, recovered in 12.3s (verify 8.1s, ...)`."""
    what = f"drill {record.kind}" if record.drill else "recovery"
    result = "ok" if record.ok else "FAILED"
    steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in record.steps.items())
    return (
        f"{what}: {result}, {record.seconds:.1f}s"
        + (f" ({steps})" if steps else "")
        + (f": {record.detail}" if record.detail else "")
    )


def scratch_url(url: str, stamp: str) -> str:
    """The source's URL with its database replaced by a drill's scratch database on the
    same server: a drill never writes to the real one."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "db"
    scratch = f"{SCRATCH_PREFIX}{stamp}_{name}"[:63]  # PostgreSQL's identifier limit
    return urlunsplit(parts._replace(path="/" + scratch))


def scratch_secrets(backup: Backup, secrets: Mapping[str, str], stamp: str) -> dict[str, str]:
    """For each PostgreSQL source, its secret pointed at a scratch database: the
    restore, the app on the scratch host and its release command all use it."""
    return {
        s.secret: scratch_url(secrets[s.secret], stamp)
        for s in backup.sources
        if isinstance(s, PostgresSource)
    }
