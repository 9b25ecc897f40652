"""Read-only views of an environment: status, history, releases, events, logs; the lock.

Each opens the hosts it needs through the runtime's HostFactory and returns typed values;
`shipyard.cli` prints them as tables or (encoded) JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.config.model import Environment
from shipyard.config.runtime import spec_from_json
from shipyard.execute import locking
from shipyard.execute.hostclient import Host, HostFactory, connect_host
from shipyard.execute.release_runtime import recorded_env
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import Session
from shipyard.plan import requests
from shipyard.plan.drills import latest as latest_drills
from shipyard.protocol.codec import encode
from shipyard.protocol.common import Deployment, Event, LockInfo
from shipyard.protocol.drills import DRILL_LIST, DrillListRequest, DrillRecord
from shipyard.protocol.inspect import LOGS, STATUS, StatusReply
from shipyard.protocol.lock import LOCK_STATUS
from shipyard.protocol.op import Empty
from shipyard.protocol.records import EVENTS, HISTORY, RELEASES, EventsRequest, HistoryRequest

if TYPE_CHECKING:
    from shipyard.execute.tls import HostCertificate
    from shipyard.plan.backup import SourceFreshness

RELEASES_HISTORY = 500
DRILLS_READ = 100  # records read for `status` (the newest of each kind is shown)


@dataclass(frozen=True)
class HostStatus:
    host: str
    status: StatusReply


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    lock: LockInfo | None
    last_deployment: Deployment | None
    hosts: list[HostStatus]
    backups: list[SourceFreshness] = field(default_factory=list)  # per configured source
    certificates: list[HostCertificate] = field(default_factory=list)  # tls on: per host
    drills: list[DrillRecord] = field(default_factory=list)  # the newest of each kind

    @property
    def stale_backups(self) -> list[SourceFreshness]:
        """Sources with no backup within `backup.max_age`."""
        return [b for b in self.backups if b.stale]

    def to_json(self) -> dict[str, object]:
        """As `status --json` prints it: each host's status with its name beside it."""
        return {
            "environment": self.environment,
            "lock": encode(self.lock),
            "last_deployment": encode(self.last_deployment),
            "hosts": [{"host": h.host, **encode(h.status)} for h in self.hosts],
            "backups": encode(self.backups),
            "backups_stale": bool(self.stale_backups),
            "certificates": encode(self.certificates),
            "drills": encode(self.drills),
        }


@dataclass(frozen=True)
class ReleaseView:
    """A release on the primary, with what became of it and whether it is a way back."""

    release_id: str
    commit: str
    commit_time: str
    built_at: str
    dirty: bool
    gates: object
    digest: str
    status: str
    last_outcome: str | None
    last_deployed_at: float | None
    active: bool
    warm: bool
    rollback_target: bool
    runtime: object  # the runtime spec recorded with it here (None: recorded before specs)
    runtime_digest: str | None


@asynccontextmanager
async def _opened(
    env: Environment, reporter: Reporter, hosts: HostFactory, *, primary_only: bool
) -> AsyncIterator[Session]:
    session = Session(env, reporter, hosts=hosts)
    try:
        await session.open(hosts=[session.primary] if primary_only else None)
        yield session
    finally:
        await session.close()


async def status(
    env: Environment, reporter: Reporter, hosts: HostFactory = connect_host
) -> EnvironmentStatus:
    async with _opened(env, reporter, hosts, primary_only=False) as session:
        listings = await session.each("releases", lambda h: h.call(RELEASES, Empty()), quiet=True)
        # each host's active release is probed on its own recorded health path
        replies = await session.each(
            "status",
            lambda h: h.call(STATUS, requests.status(recorded_env(env, listings[h.label]))),
            quiet=True,
        )
        history = await session.primary.call(HISTORY, HistoryRequest(limit=1))
        backups = await _backup_freshness(session)
        certificates = await _tls_certificates(session)
        drills = await session.primary.call(DRILL_LIST, DrillListRequest(limit=DRILLS_READ))
    primary = replies[session.primary.label]
    return EnvironmentStatus(
        environment=env.name,
        lock=primary.lock,
        last_deployment=history.deployments[0] if history.deployments else None,
        hosts=[HostStatus(host, reply) for host, reply in replies.items()],
        backups=backups,
        certificates=certificates,
        drills=latest_drills(drills.drills),
    )


async def history(
    env: Environment, limit: int, reporter: Reporter, hosts: HostFactory = connect_host
) -> list[Deployment]:
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        return (await session.primary.call(HISTORY, HistoryRequest(limit=limit))).deployments


async def events(
    env: Environment,
    after_id: int,
    reporter: Reporter,
    *,
    deployment_id: str | None = None,
    limit: int = 1000,
    hosts: HostFactory = connect_host,
) -> list[Event]:
    """The primary's event log after `after_id`: switches, locks, phases as they happen."""
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        request = EventsRequest(after_id=after_id, limit=limit, deployment_id=deployment_id)
        return (await session.primary.call(EVENTS, request)).events


async def releases(
    env: Environment, reporter: Reporter, hosts: HostFactory = connect_host
) -> list[ReleaseView]:
    """Releases on the primary host, newest first, with their outcome and slot."""
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        listing = await session.primary.call(RELEASES, Empty())
        deployments = (
            await session.primary.call(HISTORY, HistoryRequest(limit=RELEASES_HISTORY))
        ).deployments
    active_slot = listing.active_slot
    slot_of = {row.release_id: (slot, row.state) for slot, row in listing.slots.items()}
    result = []
    for item in listing.releases:
        last = next((d for d in deployments if d.release_id == item.release_id), None)
        slot, slot_state = slot_of.get(item.release_id, (None, None))
        manifest = item.manifest
        result.append(
            ReleaseView(
                release_id=item.release_id,
                commit=manifest.commit,
                commit_time=manifest.commit_time,
                built_at=manifest.built_at,
                dirty=manifest.dirty,
                gates=manifest.gates,
                digest=item.digest,
                status=item.status,
                last_outcome=last.outcome if last else None,
                last_deployed_at=last.started_at if last else None,
                active=slot == active_slot and slot is not None,
                warm=slot_state == "warm",
                rollback_target=item.status != "bad" and slot != active_slot,
                runtime=item.runtime,
                runtime_digest=spec.digest if (spec := spec_from_json(item.runtime)) else None,
            )
        )
    return result


async def lock_status(
    env: Environment, reporter: Reporter, hosts: HostFactory = connect_host
) -> LockInfo | None:
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        return (await session.primary.call(LOCK_STATUS, Empty())).lock


async def lock_acquire(
    env: Environment,
    reporter: Reporter,
    *,
    reason: str,
    force: bool,
    hosts: HostFactory = connect_host,
) -> LockInfo | None:
    """Hold the lock by hand (no heartbeat: never stale) until `lock release`."""
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        await locking.acquire(
            session.primary,
            locking.holder("lock acquire", reason or "held by hand", None),
            heartbeat=False,
            force=force,
        )
        return (await session.primary.call(LOCK_STATUS, Empty())).lock


async def lock_release(
    env: Environment, reporter: Reporter, *, force: bool, hosts: HostFactory = connect_host
) -> LockInfo | None:
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        return await locking.release(session.primary, None, force=force)


@dataclass(frozen=True)
class LogLines:
    host: str
    slot: str
    lines: list[str]


async def logs(
    env: Environment,
    slot: str | None,
    lines: int,
    reporter: Reporter,
    hosts: HostFactory = connect_host,
) -> list[LogLines]:
    async with _opened(env, reporter, hosts, primary_only=False) as session:
        replies = await session.each(
            "logs", lambda h: h.call(LOGS, requests.logs(slot, lines)), quiet=True
        )
    return [LogLines(host, reply.slot, reply.lines) for host, reply in replies.items()]


async def follow_logs(
    env: Environment,
    slot: str | None,
    lines: int,
    reporter: Reporter,
    hosts: HostFactory = connect_host,
) -> AsyncIterator[str]:
    """Every host's log lines, then new ones as they come, each prefixed by its host."""
    session = Session(env, reporter, hosts=hosts)
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def pump(host: Host) -> None:
        async for line in host.follow_logs(requests.logs(slot, lines, follow=True)):
            await queue.put(f"{host.label} {line}")

    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.gather(*(h.connect() for h in session.hosts))
        tasks = [asyncio.create_task(pump(h)) for h in session.hosts]
        done = asyncio.gather(*tasks, return_exceptions=True)
        done.add_done_callback(lambda _: queue.put_nowait(None))
        while (line := await queue.get()) is not None:
            yield line
    finally:
        for task in tasks:
            task.cancel()
        # let each stream end (its process killed and waited for) before the loop closes;
        # otherwise Ctrl-C leaves a subprocess transport for the garbage collector
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()


async def backup_status(
    env: Environment, reporter: Reporter, hosts: HostFactory = connect_host
) -> list[SourceFreshness]:
    """Each backup source's newest backup and whether it is overdue, read from the
    primary alone (serve's backup watch; `status` reads it with everything else)."""
    if env.backup is None:
        return []
    async with _opened(env, reporter, hosts, primary_only=True) as session:
        return await _backup_freshness(session)


# The backup and TLS modules load only for an environment that has backups or TLS
# (start-up: docs/benchmarks-speed.md); without, there is nothing to read.
async def _backup_freshness(session: Session) -> list[SourceFreshness]:
    if session.env.backup is None:
        return []
    from shipyard.execute.backup import freshness

    return await freshness(session)


async def _tls_certificates(session: Session) -> list[HostCertificate]:
    if not session.env.tls.enabled:
        return []
    from shipyard.execute.tls import certificates

    return await certificates(session)
