"""Host resources for `shipyard serve`: sample every host of every environment at
`metrics.resource_alerts.sample_interval`, store each sample in `resource_samples`, and
turn the stored samples into alerts (disk full within N days, memory over a threshold
for a duration; plan/forecast.py decides).

One alert per condition: a decision's `key` is sent once, then again only as a reminder
after `reminder` seconds while it lasts. The keys sent are found again in the alerts
the store recorded (an evidence line `key: ...`), so a restart does not send them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.execute import describe
from shipyard.execute.hostclient import HostFactory, connect_host
from shipyard.execute.reporter import PlainReporter
from shipyard.plan.forecast import (
    ResourceAlert,
    SampleView,
    disk_alerts,
    disk_series,
    memory_alerts,
    memory_series,
)
from shipyard.protocol.codec import encode
from shipyard.serve.alerts import Alert, AlertKind, page_link
from shipyard.serve.store import ResourceSample

if TYPE_CHECKING:
    from shipyard.config.model import Environment
    from shipyard.protocol.resources import ResourcesReply
    from shipyard.serve.context import ServeContext

DISK_HISTORY = 3 * 86400.0  # the samples a disk forecast is drawn through
REMINDER = 86400.0
KEY_PREFIX = "key: "
KINDS = {"disk-forecast": AlertKind.DISK_FORECAST, "memory-high": AlertKind.MEMORY_HIGH}

log = logging.getLogger("shipyard.serve")


def stored(env: str, host: str, reply: ResourcesReply) -> ResourceSample:
    """A host's reply as the row `resource_samples` keeps."""
    return ResourceSample(
        env=env,
        host=host,
        at=reply.at,
        cpu_pct=reply.cpu_pct,
        load1=reply.load1,
        mem_used=reply.mem_used,
        mem_total=reply.mem_total,
        disks_json=json.dumps(encode(reply.disks)),
        slots_json=json.dumps(encode(reply.slots)),
    )


def view(sample: ResourceSample) -> SampleView:
    try:
        disks = json.loads(sample.disks_json)
    except ValueError:
        disks = []
    return SampleView(
        sample.host,
        sample.at,
        sample.mem_used,
        sample.mem_total,
        disks if isinstance(disks, list) else [],
    )


class ResourceSampler:
    """Samples hosts into the store and sends resource alerts through `send`."""

    def __init__(
        self,
        ctx: ServeContext,
        send: Callable[[Alert], None],
        *,
        hosts: HostFactory = connect_host,
        reminder: float = REMINDER,
    ) -> None:
        self.ctx = ctx
        self.send = send
        self.hosts = hosts
        self.reminder = reminder
        self.sent: dict[str, float] = {}  # key -> when it was last sent
        self.reporter = PlainReporter(stream=open(os.devnull, "w"))  # noqa: SIM115 - serve logs, never prints
        self._resume()

    def _resume(self) -> None:
        since = time.time() - self.reminder
        for alert in self.ctx.store.alerts(since=since):
            if alert.kind not in {k.value for k in KINDS.values()}:
                continue
            for line in alert.body.splitlines():
                line = line.strip()
                if line.startswith(KEY_PREFIX):
                    key = line[len(KEY_PREFIX) :]
                    self.sent[key] = max(self.sent.get(key, 0.0), alert.at)

    def _env(self, name: str) -> Environment:
        return self.ctx.config.environments[name]

    async def sample(self, env_name: str) -> list[ResourceSample]:
        """One sample of every host of the environment, stored."""
        env = self._env(env_name)
        replies = await describe.resources(env, self.reporter, hosts=self.hosts)
        rows = [stored(env_name, host, reply) for host, reply in replies.items()]
        for row in rows:
            await asyncio.to_thread(self.ctx.store.add_resource_sample, row)
        return rows

    def decisions(self, env_name: str, now: float) -> list[ResourceAlert]:
        """What the stored samples say now (pure decisions, plan/forecast.py)."""
        settings = self._env(env_name).metrics.resource_alerts
        since = now - max(DISK_HISTORY, settings.memory_for * 2)
        views = [view(s) for s in self.ctx.store.resource_samples(env_name, since=since)]
        return disk_alerts(
            env_name, disk_series(views), within_days=settings.disk_full_within_days
        ) + memory_alerts(
            env_name,
            memory_series(views),
            threshold=settings.memory_over,
            duration=settings.memory_for,
            now=now,
        )

    def alert(self, env_name: str, now: float) -> list[Alert]:
        """Send the decisions not sent yet (or due a reminder); forget resolved ones."""
        decisions = self.decisions(env_name, now)
        current = {d.key for d in decisions}
        for key in [k for k in self.sent if k.split(":")[1] == env_name and k not in current]:
            del self.sent[key]  # resolved: a new occurrence alerts again
        out = []
        for decision in decisions:
            last = self.sent.get(decision.key)
            if last is not None and now - last < self.reminder:
                continue
            alert = Alert(
                kind=KINDS[decision.kind],
                env=env_name,
                what=decision.subject.split(": ", 1)[-1],
                where=f"{env_name} on {decision.host}",
                since=now,
                evidence=[decision.detail, KEY_PREFIX + decision.key],
                link=page_link(self.ctx.base_url, env_name),
                at=now,
            )
            self.send(alert)
            self.sent[decision.key] = now
            out.append(alert)
        return out

    async def run(self, stop: asyncio.Event) -> None:
        """Sample and alert for every environment until `stop` is set; a host that
        cannot be reached is logged and tried again at the next interval."""
        while not stop.is_set():
            interval = min(
                (
                    e.metrics.resource_alerts.sample_interval
                    for e in self.ctx.config.environments.values()
                ),
                default=60.0,
            )
            for name in self.ctx.config.environments:
                try:
                    await self.sample(name)
                    self.alert(name, time.time())
                except Exception as exc:  # a host down must not stop the sampler
                    log.warning("resources of %s not sampled: %s", name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
