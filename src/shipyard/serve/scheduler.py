"""The asyncio loop that runs every environment's checks at their intervals.

Each check has its own task, first run spread across its interval so 500 checks do not
all fire at once, then at a fixed rate. A run's results go to the store (written in
batches from a worker thread), through the incident machine, and, when it opens,
reminds or resolves an incident, to one alert queue delivered in order. After a restart
the open incidents and each host's streaks come back from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from dataclasses import dataclass, field, replace

import httpx

from shipyard.config.model import Environment
from shipyard.config.observe import Check, HttpProbe, TcpProbe, TlsProbe
from shipyard.plan.check_results import CheckResult
from shipyard.plan.incidents import CheckState, Policy, resume, step
from shipyard.plan.maintenance_windows import in_maintenance
from shipyard.serve.alerts import Alert, Alerter, incident_alert
from shipyard.serve.checks.http_client import Pool
from shipyard.serve.checks.run import run_check
from shipyard.serve.context import ServeContext

log = logging.getLogger("shipyard.serve")
KEEP_RESULTS = 91 * 86400.0  # the dashboard shows 90 days


def describe_check(check: Check) -> str:
    if isinstance(check, HttpProbe):
        return f"GET {check.url or check.path}"
    if isinstance(check, TcpProbe):
        return f"tcp {check.address}"
    if isinstance(check, TlsProbe):
        return f"tls {check.address}, {check.days_left}+ days"
    return f"heartbeat every {check.every_minutes:g} min"


@dataclass
class _Watched:
    env: Environment
    check: Check
    policy: Policy
    state: CheckState = field(default_factory=CheckState)
    latest: list[CheckResult] = field(default_factory=list)


class Scheduler:
    def __init__(self, ctx: ServeContext, alerter: Alerter) -> None:
        self.ctx = ctx
        self.alerter = alerter
        self.watched: dict[tuple[str, str], _Watched] = {}
        self._pending: list[CheckResult] = []
        self._alerts: asyncio.Queue[Alert] = asyncio.Queue()
        self.runs = 0  # check runs done (for tests and the bench)
        self._pool = Pool()
        config = ctx.config
        for name, env in config.environments.items():
            for check in config.checks(name):
                remind = (
                    check.remind_every
                    if check.remind_every is not None
                    else config.alerts.remind_every
                )
                policy = Policy(check.fail_after, check.resolve_after, remind)
                self.watched[(name, check.name)] = _Watched(env, check, policy)

    def latest(self, env: str) -> list[CheckResult]:
        """The newest result of each check of `env` on each of its targets."""
        return [r for (e, _), w in self.watched.items() if e == env for r in w.latest]

    def _resume(self) -> None:
        store = self.ctx.store
        open_incidents = {(i.env, i.check): i for i in store.open_incidents()}
        for key, watched in self.watched.items():
            keep = max(watched.policy.fail_after, watched.policy.resolve_after) * max(
                1, len(watched.env.hosts)
            )
            history = store.results(key[0], key[1], limit=keep * 2)
            watched.state = resume(history, open_incidents.get(key))
            watched.latest = _newest_per_host(history)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; then flush what is pending."""
        await asyncio.to_thread(self._resume)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        self._pool = Pool()  # keep-alive connections of plain http:// checks
        async with httpx.AsyncClient(limits=limits, verify=True) as client:
            tasks = [
                asyncio.create_task(self._loop(client, key, watched, stop))
                for key, watched in self.watched.items()
            ]
            tasks.append(asyncio.create_task(self._writer(stop)))
            tasks.append(asyncio.create_task(self._sender(stop)))
            await stop.wait()
            for task in tasks[:-2]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._pool.close()
        await self._flush()

    async def _loop(
        self,
        client: httpx.AsyncClient,
        key: tuple[str, str],
        watched: _Watched,
        stop: asyncio.Event,
    ) -> None:
        interval = watched.check.interval
        # spread first runs over the interval, the same spot for the same check every time
        offset = (zlib.crc32(f"{key[0]}/{key[1]}".encode()) % 1000) / 1000 * interval
        start = time.monotonic() + min(offset, interval)
        runs = 0
        while not stop.is_set():
            due = start + runs * interval
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            runs += 1
            missed = int((time.monotonic() - due) // interval)
            if missed > 0:  # fell behind (a suspended machine): skip, do not burst
                runs += missed
            try:
                await self.run_once(client, key, watched)
            except Exception:
                log.exception("check %s/%s failed to run", *key)

    async def run_once(
        self, client: httpx.AsyncClient, key: tuple[str, str], watched: _Watched
    ) -> list[CheckResult]:
        now = time.time()
        quiet = in_maintenance(watched.env.maintenance, watched.check.name, now)
        results = await run_check(
            client,
            watched.env,
            watched.check,
            self.ctx.store.last_beat,
            maintenance=quiet,
            pool=self._pool,
        )
        self.runs += 1
        watched.latest = results
        self._pending.extend(results)
        watched.state, changes = step(watched.state, results, watched.policy, time.time())
        if watched.state.incident is None and any(not r.ok and not r.maintenance for r in results):
            self.alerter.prepare()  # an incident may open in a few runs: be ready to tell
        for change in changes:
            saved = await asyncio.to_thread(self.ctx.store.save_incident, change.incident)
            if change.incident.open:
                watched.state = replace(watched.state, incident=saved)
            alert = incident_alert(
                replace(change, incident=saved), self.ctx.base_url, describe_check(watched.check)
            )
            self._alerts.put_nowait(alert)
        return results

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []  # swapped in the loop: nothing is lost
        if pending:
            await asyncio.to_thread(self.ctx.store.add_results, pending)

    async def _writer(self, stop: asyncio.Event) -> None:
        last_prune = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            try:
                await self._flush()
                self.alerter.worker.expire()
                if time.time() - last_prune > 86400:
                    last_prune = time.time()
                    await asyncio.to_thread(self.ctx.store.prune_results, last_prune - KEEP_RESULTS)
            except Exception:
                log.exception("writing check results to the store failed")

    async def _sender(self, stop: asyncio.Event) -> None:
        while True:
            if stop.is_set() and self._alerts.empty():
                return
            try:
                alert = await asyncio.wait_for(self._alerts.get(), 0.5)
            except TimeoutError:
                continue
            batch = [alert]  # what queued meanwhile goes in the same delivery
            while not self._alerts.empty():
                batch.append(self._alerts.get_nowait())
            try:
                await self.alerter.send_many(batch)
            except Exception:
                log.exception("sending alerts failed")

    def alert(self, alert: Alert) -> None:
        """Queue an alert from elsewhere in serve (deploy watch), delivered in order."""
        self._alerts.put_nowait(alert)


def _newest_per_host(history: list[CheckResult]) -> list[CheckResult]:
    newest: dict[str, CheckResult] = {}
    for result in history:
        newest[result.host] = result
    return list(newest.values())
