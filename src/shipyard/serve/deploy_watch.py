"""Deploy alerts from the hosts' records: every `serve.poll_interval` seconds, read each
environment's history from its primary (the hosts stay authoritative), mirror it into
the store, and alert what changed since the mirror: a deployment that started, and one
that finished (succeeded, failed, auto-rolled-back; hotfixes and rollbacks as such).

The first read of an environment with an empty mirror only fills it: old deployments
are history, not news. A host that cannot be reached is logged and tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from shipyard.config.model import Environment
from shipyard.execute.hostclient import HostFactory, connect_host
from shipyard.protocol.common import Deployment
from shipyard.serve.alerts import Alert
from shipyard.serve.context import ServeContext
from shipyard.serve.events import deploy_alert

log = logging.getLogger("shipyard.serve")
HISTORY_LIMIT = 50

History = Callable[[Environment], Awaitable[list[Deployment]]]


async def read_history(env: Environment, hosts: HostFactory = connect_host) -> list[Deployment]:
    from shipyard.execute import queries
    from shipyard.execute.reporter import SilentReporter

    return await queries.history(env, HISTORY_LIMIT, SilentReporter(), hosts)


class DeployWatch:
    def __init__(
        self, ctx: ServeContext, emit: Callable[[Alert], None], history: History = read_history
    ) -> None:
        self.ctx = ctx
        self.emit = emit
        self.history = history
        self._problems: dict[str, str] = {}  # env -> the last problem logged (once each)

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.ctx.config.serve.poll_interval
        while not stop.is_set():
            for env in self.ctx.config.environments.values():
                try:
                    for alert in await self.poll(env):
                        self.emit(alert)
                    self._problems.pop(env.name, None)
                except Exception as exc:  # unreachable host, not deployed yet: next time
                    if self._problems.get(env.name) != str(exc):
                        self._problems[env.name] = str(exc)
                        log.info("deploy records of %s not read: %s", env.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def poll(self, env: Environment) -> list[Alert]:
        """Read, mirror, and return the alerts for what changed."""
        deployments = await self.history(env)
        store, primary = self.ctx.store, env.primary.address
        known = await asyncio.to_thread(store.mirrored_deploys, env.name, primary)
        baseline = not known
        alerts, changed = [], {}
        for deployment in reversed(deployments):  # oldest first
            record = json.dumps(asdict(deployment), sort_keys=True)
            before = known.get(deployment.id)
            if before == record:
                continue
            changed[deployment.id] = record
            if baseline:
                continue
            was = json.loads(before)["outcome"] if before else None
            if was == deployment.outcome:
                continue
            alerts.append(self._alert(env.name, deployment))
        await asyncio.to_thread(store.mirror_deploys, env.name, primary, changed)
        return alerts

    def _alert(self, env: str, deployment: Deployment) -> Alert:
        return deploy_alert(
            env,
            deployment_id=deployment.id,
            kind=deployment.kind,
            outcome=deployment.outcome,
            release_id=deployment.release_id,
            commit=deployment.commit_sha,
            actor=deployment.actor,
            message=deployment.message,
            hosts=deployment.hosts,
            started_at=deployment.started_at,
            finished_at=deployment.finished_at,
            error=deployment.error,
            base_url=self.ctx.base_url,
        )
