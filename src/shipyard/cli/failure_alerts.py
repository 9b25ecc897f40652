"""A command's own failure alerts (TLS renewal, backup): when `alerts:` has channels
(and `alerts.from_commands` is not `never`), the command sends the alert itself, since
no `serve` sees these failures. A problem with the alert configuration is a warning,
never a changed exit code. See serve/command_failures.py for what the alerts say.
Also the deploy alerts that deploy, hotfix, promote and rollback add for themselves
(`deploy_alert_observers`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigFile
    from shipyard.config.model import Environment
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.execute.observers import PhaseObserver
    from shipyard.serve.alerts import Alert


def alerting_config(loaded: ConfigFile) -> ShipyardConfig | None:
    """The configuration to alert with, or None when the file asks for no alerts."""
    if "alerts" not in loaded.data:
        return None
    from shipyard.config.shipyard_config import ShipyardConfig

    try:
        config = ShipyardConfig.from_file(loaded)
    except ShipyardError as exc:
        print(f"warning: alerts are off for this command: {exc}", file=sys.stderr)
        return None
    if not config.alerts.channels or config.alerts.from_commands == "never":
        return None
    return config


def _send(config: ShipyardConfig, alert: Alert) -> None:
    from shipyard.serve.command_failures import send_now

    try:
        send_now(config, alert)
    except ShipyardError as exc:  # a channel's secret not set
        print(f"warning: alert not sent: {exc}", file=sys.stderr)


class TlsFailureAlerts:
    """The `execute.tls.RENEWAL_FAILURE_LISTENERS` entry that sends the alert."""

    def __init__(self, config: ShipyardConfig) -> None:
        self.config = config

    def __call__(self, env: Environment, error: ShipyardError) -> None:
        from shipyard.config.tls import certificate_names
        from shipyard.serve.command_failures import tls_renewal_alert

        names = certificate_names(env.tls, list(env.nginx.server_names))
        hosts = [str(host.address) for host in env.hosts]
        _send(self.config, tls_renewal_alert(env.name, hosts, names, error))


def listen_for_tls_failures(loaded: ConfigFile) -> None:
    """Register the TLS alert listener for this command (once; nothing without alerts)."""
    from shipyard.execute.tls import RENEWAL_FAILURE_LISTENERS

    if any(isinstance(listener, TlsFailureAlerts) for listener in RENEWAL_FAILURE_LISTENERS):
        return
    config = alerting_config(loaded)
    if config is not None:
        RENEWAL_FAILURE_LISTENERS.append(TlsFailureAlerts(config))


def backup_failed(
    loaded: ConfigFile, env_name: str, sources: Sequence[str], error: ShipyardError
) -> None:
    """`backup run` failed: send its alert (nothing without alerts)."""
    config = alerting_config(loaded)
    if config is None:
        return
    from shipyard.serve.command_failures import backup_failed_alert

    _send(config, backup_failed_alert(env_name, sources, error))


def deploy_alert_observers(loaded: ConfigFile) -> list[PhaseObserver]:
    """What a deploy, hotfix, promote or rollback adds so it sends its own deploy alerts
    when no `serve` is running (`alerts.from_commands`). Nothing without `alerts:`; a
    problem with the alert configuration is a warning, never a failed deploy."""
    if "alerts" not in loaded.data:
        return []
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.serve.events import command_alerts

    listen_for_tls_failures(loaded)  # a deploy's tls step alerts its own failures

    try:
        return list(command_alerts(ShipyardConfig.from_file(loaded)))
    except ShipyardError as exc:
        print(f"warning: deploy alerts are off for this command: {exc}", file=sys.stderr)
        return []
