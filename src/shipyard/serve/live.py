"""Deploys as they happen: one poller per environment, fanned out to subscribers.

Each environment's primary logs every phase of every host as it happens (the `events`
operation). `LiveDeploys` polls that log every `busy_interval` while a deploy holds the
lock and every `idle_interval` otherwise, keeps the newest events in memory, and hands
each new one to every subscriber (the dashboard's server-sent events). The same loop
refreshes the environment's snapshot (`mirror.poll`) when a deploy starts, switches or
ends, and otherwise every `idle_interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from shipyard.config.model import Environment
from shipyard.errors import ShipyardError
from shipyard.protocol.common import Event
from shipyard.serve import mirror
from shipyard.serve.mirror import DeployIndex, Snapshot, Sources
from shipyard.serve.reads import DashboardStore

KEEP_EVENTS = 1000
# events after which the environment's status and records are read again at once
REFRESHING_KINDS = {"lock-acquired", "lock-taken-over", "lock-released", "switch"}
CATCH_UP_PAGES = 1000  # at start: read the log to its end, keeping the newest KEEP_EVENTS


@dataclass(frozen=True)
class LiveState:
    """What a live page starts from: the newest events and whether a deploy is running."""

    env: str
    events: list[Event]
    deploying: str | None  # the running deployment's id


class LiveDeploys:
    """Built empty by `serve` (ServeContext.live); `attach` gives it the environments and
    the store, and `start` begins polling (the dashboard does both)."""

    deploys: DeployIndex

    def __init__(
        self,
        sources: Sources | None = None,
        *,
        idle_interval: float = 10.0,
        busy_interval: float = 1.0,
        busy_refresh: float = 5.0,
    ) -> None:
        self.sources = sources or Sources()
        self.idle_interval = idle_interval
        self.busy_interval = busy_interval
        self.busy_refresh = busy_refresh
        self.envs: dict[str, Environment] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def attached(self) -> bool:
        return hasattr(self, "deploys")

    def attach(self, envs: Mapping[str, Environment], store: DashboardStore) -> LiveDeploys:
        self.envs = dict(envs)
        self.store = store
        self.deploys = DeployIndex(store)
        self._snapshots = {name: Snapshot(name) for name in self.envs}
        self._events: dict[str, deque[Event]] = {n: deque(maxlen=KEEP_EVENTS) for n in self.envs}
        self._last_id = dict.fromkeys(self.envs, 0)
        self._deploying: dict[str, str | None] = dict.fromkeys(self.envs)
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {n: set() for n in self.envs}
        self.event_errors: dict[str, str | None] = dict.fromkeys(self.envs)
        return self

    # reading
    def snapshot(self, env: str) -> Snapshot:
        return self._snapshots[env]

    def state(self, env: str) -> LiveState:
        return LiveState(env, list(self._events[env]), self._deploying[env])

    def deploying(self, env: str) -> str | None:
        return self._deploying[env]

    @contextlib.asynccontextmanager
    async def subscribe(self, env: str) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue that receives every new event of `env` while the context is open."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=10_000)
        self._subscribers[env].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[env].discard(queue)

    # polling
    def start(self) -> None:
        """Poll every environment in the background (idempotent)."""
        if self.attached and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        await asyncio.gather(*(self._loop(name) for name in self.envs))

    async def refresh(self, name: str) -> Snapshot:
        env = self.envs[name]
        snapshot = await mirror.poll(env, self._snapshots[name], self.deploys, self.sources)
        self._snapshots[name] = snapshot
        if snapshot.status is not None:
            last = snapshot.status.last_deployment
            if last is not None and last.outcome == "running":
                self._deploying[name] = last.id
            elif snapshot.status.lock is None:
                self._deploying[name] = None
        return snapshot

    async def poll_events(self, name: str) -> list[Event]:
        """Read the events logged since the last poll and hand them out."""
        try:
            new = await self.sources.events(self.envs[name], self._last_id[name])
        except ShipyardError as exc:
            self.event_errors[name] = exc.message
            return []
        self.event_errors[name] = None
        for event in new:
            self._take(name, event)
        return new

    def _take(self, name: str, event: Event) -> None:
        self._last_id[name] = max(self._last_id[name], event.id)
        self._events[name].append(event)
        if event.deployment_id and event.kind in ("lock-acquired", "lock-taken-over", "phase"):
            self._deploying[name] = event.deployment_id
        elif event.kind == "lock-released":
            self._deploying[name] = None
        for queue in self._subscribers[name]:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page misses events
                queue.put_nowait(event)

    async def _catch_up(self, name: str) -> None:
        for _ in range(CATCH_UP_PAGES):
            if len(await self.poll_events(name)) < mirror.EVENTS_PAGE:
                return

    async def _loop(self, name: str) -> None:
        await self._catch_up(name)
        await self.refresh(name)
        refreshed = time.monotonic()
        while True:
            busy = self._deploying[name] is not None
            await asyncio.sleep(self.busy_interval if busy else self.idle_interval)
            new = await self.poll_events(name)
            due = self.busy_refresh if self._deploying[name] else self.idle_interval
            if any(e.kind in REFRESHING_KINDS for e in new) or time.monotonic() - refreshed >= due:
                await self.refresh(name)
                refreshed = time.monotonic()
