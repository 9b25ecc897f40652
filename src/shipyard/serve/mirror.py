"""What the dashboard knows of each environment: the last status read over SSH, and its
deployment records copied into the store (`deploy_mirror`), so no page waits on a host.

The hosts stay authoritative: a poll reads `status` and the newest `history` from them
(execute/queries.py) and replaces what is cached; a poll that fails keeps the last
snapshot and says why.
"""

from __future__ import annotations

import heapq
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from shipyard.config.model import Environment
from shipyard.errors import ShipyardError
from shipyard.execute import queries
from shipyard.execute.hostclient import HostFactory, connect_host
from shipyard.execute.queries import EnvironmentStatus
from shipyard.execute.reporter import SilentReporter
from shipyard.protocol.codec import decode
from shipyard.protocol.common import Deployment, Event
from shipyard.serve.reads import DashboardStore

HISTORY_PER_POLL = 50
EVENTS_PAGE = 500  # newest records re-read each poll (outcomes change while running)


@dataclass(frozen=True)
class Snapshot:
    """An environment as last polled: its status (None until a poll succeeded)."""

    env: str
    status: EnvironmentStatus | None = None
    polled_at: float | None = None  # when `status` was read
    error: str | None = None  # why the last poll failed, if it did
    tried_at: float | None = None


@dataclass
class Sources:
    """How a poll reaches the hosts (the queries; a test may pass others)."""

    status: Callable[[Environment], Awaitable[EnvironmentStatus]] = field(
        default=lambda env: queries.status(env, SilentReporter())
    )
    history: Callable[[Environment, int], Awaitable[list[Deployment]]] = field(
        default=lambda env, limit: queries.history(env, limit, SilentReporter())
    )
    events: Callable[[Environment, int], Awaitable[list[Event]]] = field(
        default=lambda env, after: queries.events(env, after, SilentReporter(), limit=EVENTS_PAGE)
    )

    @classmethod
    def through(cls, hosts: HostFactory = connect_host) -> Sources:
        """The queries, reaching the hosts through `hosts` (serve: its HostSessions)."""
        return cls(
            status=lambda env: queries.status(env, SilentReporter(), hosts),
            history=lambda env, limit: queries.history(env, limit, SilentReporter(), hosts),
            events=lambda env, after: queries.events(
                env, after, SilentReporter(), limit=EVENTS_PAGE, hosts=hosts
            ),
        )


class DeployIndex:
    """Every environment's mirrored records in memory, newest first, for the pages.

    Loaded from the store once per environment, then kept up to date by each poll; a
    history page filters thousands of records without a query or a JSON parse.
    """

    def __init__(self, store: DashboardStore) -> None:
        self.store = store
        self._by_env: dict[str, dict[str, Deployment]] = {}
        self._sorted: dict[str, list[Deployment]] = {}

    def _records(self, env: str) -> dict[str, Deployment]:
        if env not in self._by_env:
            loaded = {}
            for deploy_id, text in self.store.mirrored_deploys(env).items():
                loaded[deploy_id] = decode(Deployment, json.loads(text), "deploy_mirror")
            self._by_env[env] = loaded
        return self._by_env[env]

    def put(self, env: str, host: str, records: Iterable[Deployment]) -> None:
        """Index these records of `env` as read from `host`. The store's copy is written
        by serve's deploy watch alone (it alerts on what changed there), so the index
        only reads it, at start."""
        index = self._records(env)
        for record in records:
            index[record.id] = record
        self._sorted.pop(env, None)

    def newest(self, env: str) -> list[Deployment]:
        if env not in self._sorted:
            values = self._records(env).values()
            self._sorted[env] = sorted(values, key=lambda r: r.started_at, reverse=True)
        return self._sorted[env]

    def find(self, env: str, deployment_id: str) -> Deployment | None:
        return self._records(env).get(deployment_id)

    def select(
        self, envs: Iterable[str], *, outcome: str | None = None, limit: int = 100
    ) -> list[tuple[str, Deployment]]:
        """(env, record) newest first across `envs`, of one outcome if given."""
        streams = [
            ((env, r) for r in self.newest(env) if not outcome or r.outcome == outcome)
            for env in envs
        ]
        merged = heapq.merge(*streams, key=lambda row: -row[1].started_at)
        return list(itertools.islice(merged, limit))


async def poll(
    env: Environment,
    previous: Snapshot,
    index: DeployIndex,
    sources: Sources,
    *,
    history_limit: int = HISTORY_PER_POLL,
    now: Callable[[], float] = time.time,
) -> Snapshot:
    """Read the status and newest records of `env`; the records go to the store."""
    tried = now()
    try:
        status = await sources.status(env)
        records = await sources.history(env, history_limit)
    except ShipyardError as exc:
        return Snapshot(env.name, previous.status, previous.polled_at, exc.message, tried)
    index.put(env.name, env.primary.address, records)
    return Snapshot(env.name, status, tried, None, tried)
