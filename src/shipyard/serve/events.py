"""Deploy events as alerts: one formatter for what `serve`'s deploy watch reads from the
hosts and for what a deploy command sends itself when no `serve` is running.

`CommandAlerts` is the observer the CLI injects into a deploy, hotfix, promote or
rollback (execute/ never imports serve): it is told when the deployment record opens
and closes and sends the alert from a background thread, so a slow channel never slows
the deploy; the process waits for the last deliveries (up to `alerts.timeout`) at exit.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.serve.alerts import Alert, AlertKind, Channel, deliver, page_link

if TYPE_CHECKING:
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.protocol.common import DeploymentStart, Probe

FAILED_OUTCOMES = {"failed", "smoke-failed", "interrupted"}


def deploy_kind(kind: str, outcome: str) -> AlertKind:
    """Which alert a deployment of `kind` (deploy, promote, hotfix, rollback) with
    `outcome` (running, succeeded, failed, auto-rolled-back, ...) is."""
    if outcome == "auto-rolled-back":
        return AlertKind.DEPLOY_AUTO_ROLLED_BACK
    if outcome in FAILED_OUTCOMES:
        return AlertKind.DEPLOY_FAILED
    if kind == "hotfix":
        return AlertKind.HOTFIX
    if kind == "rollback":
        return AlertKind.ROLLBACK
    if outcome == "running":
        return AlertKind.DEPLOY_STARTED
    return AlertKind.DEPLOY_SUCCEEDED


_VERB = {
    "running": "started",
    "succeeded": "succeeded",
    "failed": "failed",
    "smoke-failed": "failed its smoke tests",
    "interrupted": "was interrupted",
    "auto-rolled-back": "was rolled back automatically",
}


def deploy_alert(
    env: str,
    *,
    deployment_id: str,
    kind: str,
    outcome: str,
    release_id: str,
    commit: str | None,
    actor: str,
    message: str | None,
    hosts: Sequence[str],
    started_at: float,
    finished_at: float | None,
    error: str | None,
    base_url: str,
) -> Alert:
    verb = _VERB.get(outcome, outcome)
    what = f"{kind} of {release_id} {verb}"
    evidence = [f"by {actor}" + (f" ({message})" if message else "")]
    if commit:
        evidence.append(f"commit {commit[:12]}")
    if finished_at is not None:
        evidence.append(f"took {finished_at - started_at:.0f} s")
    if error:
        evidence.append(f"error: {error}")
    return Alert(
        kind=deploy_kind(kind, outcome),
        env=env,
        what=what,
        where=f"{env}: {', '.join(hosts)}" if hosts else env,
        since=started_at,
        evidence=evidence,
        link=page_link(base_url, env, deploy=deployment_id),
        at=finished_at or time.time(),
    )


def serve_is_answering(base_url: str, timeout: float = 1.0) -> bool:
    """Is a `shipyard serve` answering at its URL (it will send the deploy alerts)?"""
    import httpx

    try:
        return httpx.get(f"{base_url}/api/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class CommandAlerts:
    """Deploy alerts from a command (see the module's doc). A PhaseObserver and a
    RecordObserver; phases themselves are not alerted."""

    def __init__(self, channels: Sequence[Channel], base_url: str, timeout: float) -> None:
        self.channels = list(channels)
        self.base_url = base_url
        self.timeout = timeout
        self._queue: queue.Queue[Alert | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver, daemon=True, name="alerts")
        self._thread.start()
        atexit.register(self.close)

    def phase_event(
        self,
        host: str,
        phase: str,
        status: str,
        detail: str,
        *,
        probes: Sequence[Probe] = (),
        log_tail: Sequence[str] = (),
    ) -> None:
        pass

    def phase_done(self, phase: str) -> None:
        pass

    def _alert(self, env: str, start: DeploymentStart, outcome: str, error: str | None) -> Alert:
        return deploy_alert(
            env,
            deployment_id=start.id,
            kind=start.kind,
            outcome=outcome,
            release_id=start.release_id,
            commit=start.commit_sha,
            actor=start.actor,
            message=start.message,
            hosts=start.hosts,
            started_at=start.started_at,
            finished_at=None if outcome == "running" else time.time(),
            error=error,
            base_url=self.base_url,
        )

    def record_started(self, env: str, start: DeploymentStart) -> None:
        self._queue.put(self._alert(env, start, "running", None))

    def record_finished(
        self, env: str, start: DeploymentStart, outcome: str, error: str | None
    ) -> None:
        self._queue.put(self._alert(env, start, outcome, error))

    def _deliver(self) -> None:
        while (alert := self._queue.get()) is not None:
            deliver(self.channels, alert, self.timeout)

    def close(self) -> None:
        """Wait for what is queued to go out (bounded by the delivery timeout)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=self.timeout * 2)


def command_alerts(config: ShipyardConfig) -> list[CommandAlerts]:
    """The observer a deploy command adds, or none: per `alerts.from_commands`, with
    channels configured, and (`auto`) only when serve is not answering at `serve.url`."""
    from shipyard.serve.alerts import channels_of

    alerts = config.alerts
    if not alerts.channels or alerts.from_commands == "never":
        return []
    if alerts.from_commands == "auto" and serve_is_answering(config.serve.base_url):
        return []
    return [CommandAlerts(channels_of(config), config.serve.base_url, alerts.timeout)]
