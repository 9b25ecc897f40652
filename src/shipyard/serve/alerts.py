"""Alerts: what happened, where, since when, the evidence and a link, sent through
apprise to every configured channel, and recorded in the store.

One formatter for everything that alerts (serve's incidents and deploy watch, the deploy
commands themselves, the metrics engineer's disk forecasts, backups), so a message reads
the same whoever sent it. Channels are apprise URLs read from secrets: they carry tokens,
so they are never logged or shown; a failing channel is named by its secret's name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from shipyard.plan.incidents import Change, Transition

if TYPE_CHECKING:
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.serve.store import Store

# apprise logs at WARNING what failed, sometimes with parts of the URL: keep it quiet,
# this module reports failures itself, by channel name
logging.getLogger("apprise").addHandler(logging.NullHandler())
logging.getLogger("apprise").propagate = False


class AlertKind(StrEnum):
    CHECK_DOWN = "check_down"
    CHECK_REMINDER = "check_reminder"
    CHECK_RECOVERED = "check_recovered"
    DEPLOY_STARTED = "deploy_started"
    DEPLOY_SUCCEEDED = "deploy_succeeded"
    DEPLOY_FAILED = "deploy_failed"
    DEPLOY_AUTO_ROLLED_BACK = "deploy_auto_rolled_back"
    HOTFIX = "hotfix"
    ROLLBACK = "rollback"
    TLS_RENEWAL_FAILED = "tls_renewal_failed"
    DISK_FORECAST = "disk_forecast"
    BACKUP_FAILED = "backup_failed"
    BACKUP_MISSING = "backup_missing"
    TEST = "test"
    MEMORY_HIGH = "memory_high"  # serve/resources.py: memory over a threshold for a while
    BACKUP_RECOVERED = "backup_recovered"  # serve/backup_watch.py: a missing backup arrived


_LABEL = {
    AlertKind.CHECK_DOWN: "DOWN",
    AlertKind.CHECK_REMINDER: "STILL DOWN",
    AlertKind.CHECK_RECOVERED: "RECOVERED",
    AlertKind.DEPLOY_STARTED: "DEPLOYING",
    AlertKind.DEPLOY_SUCCEEDED: "DEPLOYED",
    AlertKind.DEPLOY_FAILED: "DEPLOY FAILED",
    AlertKind.DEPLOY_AUTO_ROLLED_BACK: "AUTO-ROLLED BACK",
    AlertKind.HOTFIX: "HOTFIX",
    AlertKind.ROLLBACK: "ROLLBACK",
    AlertKind.TLS_RENEWAL_FAILED: "TLS RENEWAL FAILED",
    AlertKind.DISK_FORECAST: "DISK FILLING",
    AlertKind.BACKUP_FAILED: "BACKUP FAILED",
    AlertKind.BACKUP_MISSING: "BACKUP MISSING",
    AlertKind.TEST: "TEST",
    AlertKind.MEMORY_HIGH: "MEMORY HIGH",
    AlertKind.BACKUP_RECOVERED: "BACKUP RECOVERED",
}
_BAD = {
    AlertKind.CHECK_DOWN,
    AlertKind.CHECK_REMINDER,
    AlertKind.DEPLOY_FAILED,
    AlertKind.DEPLOY_AUTO_ROLLED_BACK,
    AlertKind.TLS_RENEWAL_FAILED,
    AlertKind.BACKUP_FAILED,
    AlertKind.BACKUP_MISSING,
}
_GOOD = {AlertKind.CHECK_RECOVERED, AlertKind.DEPLOY_SUCCEEDED, AlertKind.BACKUP_RECOVERED}


@dataclass(frozen=True)
class Alert:
    """What to say. `what` is one line (`check health is down on 2 hosts`), `where`
    the environment and hosts, `since` UNIX seconds, `evidence` lines (status, error,
    latency), `link` the dashboard page."""

    kind: AlertKind
    env: str
    what: str
    where: str
    since: float
    evidence: Sequence[str] = ()
    link: str = ""
    at: float = field(default_factory=time.time)


def page_link(base_url: str, env: str, check: str | None = None, deploy: str | None = None) -> str:
    """The dashboard page of an environment, a check of it, or a deployment."""
    base = f"{base_url.rstrip('/')}/env/{env}"
    if check is not None:
        return f"{base}/checks/{check}"
    if deploy is not None:
        return f"{base}/deploys/{deploy}"
    return base


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


def format_alert(alert: Alert) -> tuple[str, str]:
    """(title, body) in plain text, the same for every channel and every sender."""
    title = f"[{_LABEL[alert.kind]}] {alert.env}: {alert.what}"
    lines = [
        f"What: {alert.what}",
        f"Where: {alert.where}",
        f"Since: {_when(alert.since)} ({_duration(alert.at - alert.since)} ago)",
    ]
    if alert.evidence:
        lines.append("Evidence:")
        lines += [f"  {line}" for line in alert.evidence]
    if alert.link:
        lines.append(f"Dashboard: {alert.link}")
    return title, "\n".join(lines)


@dataclass(frozen=True)
class Channel:
    name: str  # the secret's name: what messages call it
    url: str  # the apprise URL: a secret


@dataclass(frozen=True)
class Delivery:
    sent: list[str]  # channel names
    failed: list[str]


def channels_of(config: ShipyardConfig) -> list[Channel]:
    """The configured channels, their URLs read from the secrets (ConfigError if unset)."""
    return [
        Channel(name, config.secret(name, "alerts.channels")) for name in config.alerts.channels
    ]


def _notify_type(kind: AlertKind) -> str:
    if kind in _BAD:
        return "failure"
    if kind in _GOOD:
        return "success"
    return "info"


def deliver(channels: Sequence[Channel], alert: Alert, timeout: float = 10.0) -> Delivery:
    """Send to every channel (blocking); which ones took it and which did not."""
    import apprise

    title, body = format_alert(alert)
    sent: list[str] = []
    failed: list[str] = []
    for channel in channels:
        target = apprise.Apprise()
        try:
            added = target.add(channel.url)
            ok = added and bool(
                target.notify(
                    body=body, title=title, notify_type=_notify_type(alert.kind), timeout=timeout
                )
            )
        except Exception:  # a channel's plugin failing must not stop the others
            ok = False
        (sent if ok else failed).append(channel.name)
    return Delivery(sent, failed)


def alert_from_json(data: dict[str, object]) -> Alert:
    return Alert(
        kind=AlertKind(str(data["kind"])),
        env=str(data["env"]),
        what=str(data["what"]),
        where=str(data["where"]),
        since=float(data["since"]),  # type: ignore[arg-type]
        evidence=[str(line) for line in data["evidence"]],  # type: ignore[attr-defined]
        link=str(data["link"]),
        at=float(data["at"]),  # type: ignore[arg-type]
    )


class DeliveryWorker:
    """The one child process that delivers alerts (serve/deliver.py), kept between them.

    It loads apprise once and then takes one request a line on its stdin, answering one
    line each, for as long as it is used: an incident's DOWN, its reminders and its
    RECOVERED, and the deploy alerts, all go through the same process. `warm()` starts it
    ahead of need (when a check first fails), so apprise is loaded by the time an incident
    opens; unused for `max_idle` seconds it is ended (`expire()`), so apprise's memory is
    held only around alerts. A worker that does not answer within the request's timeout,
    or answers nonsense, is killed and its alerts count as failed; the next request
    starts a new one. Thread-safe: one request at a time, and `warm()` and `expire()`
    (called from serve's event loop) never wait for one.
    """

    COMMAND = (sys.executable, "-m", "shipyard.serve.deliver")

    def __init__(
        self, max_idle: float = 900.0, *, grace: float = 30.0, command: Sequence[str] = COMMAND
    ) -> None:
        self.max_idle = max_idle
        self.grace = grace  # beyond the channels' timeouts, for the worker's own start
        self.command = list(command)
        self.started = 0  # processes started (for tests and the bench)
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._since = 0.0
        self._lock = threading.Lock()
        self.busy = False  # a delivery is under way

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def _running(self) -> subprocess.Popen[bytes]:
        """The worker, started if there is none (call with the lock held)."""
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            self._buffer = b""
            self.started += 1
        self._since = time.monotonic()
        return self._process

    def warm(self) -> None:
        """Start the worker if there is none. Called from serve's event loop, so it never
        waits: during a delivery the worker is running already."""
        if self._lock.acquire(blocking=False):
            try:
                self._running()
            finally:
                self._lock.release()

    def expire(self) -> None:
        """End the worker if it was not used for `max_idle` seconds (never waits either:
        during a delivery it is in use)."""
        if self._lock.acquire(blocking=False):
            try:
                if self._process is not None and time.monotonic() - self._since > self.max_idle:
                    self._end()
            finally:
                self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._end()

    def _end(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            assert process.stdin is not None
            process.stdin.close()  # end of requests: it exits
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()

    def deliver(
        self, channels: Sequence[Channel], alerts: Sequence[Alert], timeout: float
    ) -> list[Delivery]:
        """Deliver `alerts` through the worker; every channel counts as failed if it does
        not answer within the time the request may take."""
        names = [c.name for c in channels]
        if not channels:
            return [Delivery([], []) for _ in alerts]
        request = {
            "channels": [asdict(c) for c in channels],
            "alerts": [
                asdict(a) | {"kind": a.kind.value, "evidence": list(a.evidence)} for a in alerts
            ],
            "timeout": timeout,
        }
        limit = timeout * len(channels) * len(alerts) + self.grace
        with self._lock:
            self.busy = True
            process = self._running()
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                answers = json.loads(self._read_line(process, time.monotonic() + limit))
                deliveries = [Delivery(list(a["sent"]), list(a["failed"])) for a in answers]
                if len(deliveries) != len(alerts):
                    raise ValueError("one answer per alert expected")
            except (OSError, TimeoutError, ValueError, KeyError, TypeError):
                process.kill()
                process.wait()
                self._process = None
                return [Delivery([], names) for _ in alerts]
            finally:
                self.busy = False
            self._since = time.monotonic()
            return deliveries

    def _read_line(self, process: subprocess.Popen[bytes], deadline: float) -> bytes:
        """The worker's next answer line (TimeoutError past `deadline`, OSError at EOF)."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the delivery worker did not answer")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise OSError("the delivery worker exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


class Alerter:
    """Sends alerts to the configured channels and records each in the store."""

    def __init__(
        self,
        channels: Sequence[Channel],
        store: Store | None = None,
        timeout: float = 10.0,
        on_failure: logging.Logger | None = None,
    ) -> None:
        self.channels = list(channels)
        self.store = store
        self.timeout = timeout
        self.log = on_failure or logging.getLogger("shipyard.serve")
        self.worker = DeliveryWorker()

    def prepare(self) -> None:
        """Something started failing: have the delivery worker ready (see DeliveryWorker)."""
        if self.channels:
            self.worker.warm()

    def close(self) -> None:
        """End the delivery worker (serve's shutdown; a command's one alert sent)."""
        self.worker.close()

    def send_blocking(self, alert: Alert) -> Delivery:
        return self.send_batch([alert])[0]

    def send_batch(self, alerts: Sequence[Alert]) -> list[Delivery]:
        """Deliver (through the worker, see serve/deliver.py) and record each alert."""
        from shipyard.serve.store import AlertSent

        deliveries = self.worker.deliver(self.channels, alerts, self.timeout)
        for alert, delivery in zip(alerts, deliveries, strict=True):
            if delivery.failed:
                self.log.warning(
                    "alert %s for %s not delivered to %s",
                    alert.kind.value,
                    alert.env,
                    ", ".join(delivery.failed),
                )
            if self.store is not None:
                title, body = format_alert(alert)
                record = AlertSent(alert.at, alert.kind.value, alert.env, title, body)
                self.store.record_alert(record)
        return deliveries

    async def send(self, alert: Alert) -> Delivery:
        """Send from a worker thread: delivery blocks, the event loop must not."""
        return await asyncio.to_thread(self.send_blocking, alert)

    async def send_many(self, alerts: Sequence[Alert]) -> list[Delivery]:
        return await asyncio.to_thread(self.send_batch, alerts)


async def send(config: ShipyardConfig, alert: Alert, store: Store | None = None) -> Delivery:
    """Send one alert to every channel of `config` (for other parts of serve to call)."""
    alerter = Alerter(channels_of(config), store, config.alerts.timeout)
    try:
        return await alerter.send(alert)
    finally:
        await asyncio.to_thread(alerter.close)


def incident_alert(change: Change, base_url: str, describe_check: str = "") -> Alert:
    """The alert for an incident opening, staying open (a reminder) or resolving."""
    incident = change.incident
    hosts = [host for host in incident.hosts if host != "-"]
    on = f" on {len(hosts)} host{'s' if len(hosts) != 1 else ''}" if hosts else ""
    label = f"check {incident.check}" + (f" ({describe_check})" if describe_check else "")
    kind, what = {
        Transition.OPENED: (AlertKind.CHECK_DOWN, f"{label} is failing{on}"),
        Transition.REMINDER: (AlertKind.CHECK_REMINDER, f"{label} is still failing{on}"),
        Transition.RESOLVED: (AlertKind.CHECK_RECOVERED, f"{label} has recovered"),
    }[change.transition]
    where = incident.env + (f": {', '.join(hosts)}" if hosts else "")
    evidence = [part for part in incident.evidence.split("; ") if part]
    if change.transition is Transition.RESOLVED and incident.resolved_at is not None:
        evidence = [
            f"down for {_duration(incident.resolved_at - incident.opened_at)}",
            *(f"last failure: {line}" for line in evidence),
        ]
    return Alert(
        kind=kind,
        env=incident.env,
        what=what,
        where=where,
        since=incident.opened_at,
        evidence=evidence,
        link=page_link(base_url, incident.env, check=incident.check),
        at=change.incident.last_alert_at or time.time(),
    )
