"""Backups for `shipyard serve`: read every environment's backup freshness (what
`status` shows) every `INTERVAL` seconds and send BACKUP MISSING once per incident (an
overdue source), BACKUP RECOVERED when a backup arrives (plan/backup_incidents.py decides).

The open incidents are found again in the alerts the store recorded (an evidence line
`key: backup:<env>:<source>`, as serve/resources.py does), so a restart stays quiet
about an incident already alerted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from shipyard.execute import queries
from shipyard.execute.hostclient import HostFactory, connect_host
from shipyard.execute.reporter import PlainReporter
from shipyard.plan import schedule
from shipyard.plan.backup import SourceFreshness
from shipyard.plan.backup_incidents import backup_changes, incident_key
from shipyard.serve.alerts import Alert, AlertKind, page_link
from shipyard.serve.backup_alerts import backup_alerts

if TYPE_CHECKING:
    from shipyard.serve.context import ServeContext

INTERVAL = 300.0  # seconds between two reads of an environment's backups
RESUME = 90 * 86400.0  # how far back the store's alerts are read for open incidents
KEY_PREFIX = "key: "

log = logging.getLogger("shipyard.serve")


def _keys(body: str) -> list[str]:
    return [
        line.strip()[len(KEY_PREFIX) :]
        for line in body.splitlines()
        if line.strip().startswith(KEY_PREFIX + "backup:")
    ]


class BackupWatch:
    """Reads backup freshness and sends the backup alerts through `send`."""

    def __init__(
        self,
        ctx: ServeContext,
        send: Callable[[Alert], None],
        *,
        hosts: HostFactory = connect_host,
        interval: float = INTERVAL,
    ) -> None:
        self.ctx = ctx
        self.send = send
        self.hosts = hosts
        self.interval = interval
        self.open: set[str] = set()  # keys of the incidents alerted and not recovered
        self.reporter = PlainReporter(stream=open(os.devnull, "w"))  # noqa: SIM115 - serve logs, never prints
        self._resume()

    def _resume(self) -> None:
        for alert in self.ctx.store.alerts(since=time.time() - RESUME):  # oldest first
            if alert.kind == AlertKind.BACKUP_MISSING.value:
                self.open.update(_keys(alert.body))
            elif alert.kind == AlertKind.BACKUP_RECOVERED.value:
                self.open.difference_update(_keys(alert.body))

    def alert(self, env_name: str, freshness: Sequence[SourceFreshness], now: float) -> list[Alert]:
        """Send what changed: a new incident's BACKUP MISSING, a closed one's RECOVERED."""
        backup = self.ctx.config.environments[env_name].backup
        if backup is None:
            return []
        known = {incident_key(env_name, s.source) for s in freshness}
        prefix = incident_key(env_name, "")
        self.open -= {k for k in self.open if k.startswith(prefix) and k not in known}
        changes = backup_changes(env_name, freshness, self.open)
        link = page_link(self.ctx.base_url, env_name)
        out = []
        within = schedule.expected_within(backup)
        missing_alerts = backup_alerts(env_name, changes.opened, within, now)  # one per source
        for source, missing in zip(changes.opened, missing_alerts, strict=True):
            key = incident_key(env_name, source.source)
            out.append(
                dataclasses.replace(
                    missing, evidence=[*missing.evidence, KEY_PREFIX + key], link=link
                )
            )
            self.open.add(key)
        for source in changes.resolved:
            key = incident_key(env_name, source.source)
            out.append(
                Alert(
                    kind=AlertKind.BACKUP_RECOVERED,
                    env=env_name,
                    what=f"backup source {source.source} is backed up again",
                    where=f"{env_name}: primary host",
                    since=source.last_at or now,
                    evidence=[source.describe(), KEY_PREFIX + key],
                    link=link,
                    at=now,
                )
            )
            self.open.discard(key)
        for alert in out:
            self.send(alert)
        return out

    async def check(self, env_name: str) -> list[Alert]:
        """Read one environment's freshness from its primary and alert what changed."""
        env = self.ctx.config.environments[env_name]
        freshness = await queries.backup_status(env, self.reporter, hosts=self.hosts)
        return self.alert(env_name, freshness, time.time())

    async def run(self, stop: asyncio.Event) -> None:
        """Every environment with `backup:`, every interval, until `stop` is set; a host
        that cannot be reached is logged and read again at the next interval."""
        names = [n for n, e in self.ctx.config.environments.items() if e.backup is not None]
        while names and not stop.is_set():
            for name in names:
                if stop.is_set():
                    return
                try:
                    await asyncio.wait_for(self.check(name), timeout=self.interval)
                except Exception as exc:  # a host down must not stop the watch
                    log.warning("backups of %s not read: %s", name, exc or type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
