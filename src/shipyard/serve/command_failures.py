"""Alerts a command sends about its own failure: a TLS renewal that failed (`tls renew`,
a deploy's tls step) and a backup that failed (`backup run`). `serve` cannot see these
(they happen in the command), so the command sends them itself, through the same
formatter and channels as every other alert, whether or not a `serve` is running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.serve.alerts import Alert, AlertKind, Delivery, channels_of, deliver

if TYPE_CHECKING:
    from shipyard.config.shipyard_config import ShipyardConfig


def _evidence(error: ShipyardError) -> list[str]:
    lines = [f"error: {error.message}", *error.details()]
    if error.hint:
        lines.append(f"what to do: {error.hint}")
    return lines


def tls_renewal_alert(
    env_name: str,
    hosts: Sequence[str],
    names: Sequence[str],
    error: ShipyardError,
    now: float | None = None,
) -> Alert:
    """The names, the hosts, the ACME server's error and what to do."""
    at = time.time() if now is None else now
    return Alert(
        kind=AlertKind.TLS_RENEWAL_FAILED,
        env=env_name,
        what=f"certificate for {', '.join(names) or 'the server names'} was not renewed",
        where=f"{env_name}: {', '.join(hosts)}" if hosts else env_name,
        since=at,
        evidence=[
            *_evidence(error),
            "nginx still serves the previous certificate; fix the cause, then run "
            f"`shipyard tls renew {env_name}` (and `shipyard tls status {env_name}`)",
        ],
        at=at,
    )


def backup_failed_alert(
    env_name: str,
    sources: Sequence[str],
    error: ShipyardError,
    now: float | None = None,
) -> Alert:
    """Which sources, the error and what to do."""
    at = time.time() if now is None else now
    which = f"of {', '.join(sources)} " if sources else ""
    return Alert(
        kind=AlertKind.BACKUP_FAILED,
        env=env_name,
        what=f"backup {which}failed",
        where=f"{env_name}: primary host",
        since=at,
        evidence=[
            *_evidence(error),
            f"fix the cause, then run `shipyard backup run {env_name}`; "
            f"`shipyard backup list {env_name}` shows the last good snapshots",
        ],
        at=at,
    )


def send_now(config: ShipyardConfig, alert: Alert) -> Delivery:
    """Deliver to every configured channel before the command exits (blocking, bounded
    by `alerts.timeout` per channel); a channel that failed is a warning, by name."""
    delivery = deliver(channels_of(config), alert, config.alerts.timeout)
    if delivery.failed:
        print(
            f"warning: alert {alert.kind.value} not delivered to {', '.join(delivery.failed)}",
            file=sys.stderr,
        )
    return delivery
