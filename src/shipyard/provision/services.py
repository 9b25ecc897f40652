"""How a plan's `service` operation is asked of systemd on a host where it runs. Pure.

The runner passes these arguments to pyinfra's `systemd.service`, which acts on each of
them: `running=False` stops a running unit, `running=None` leaves it as it is, and
`daemon_reload=True` reloads systemd on every run (a change each time). So a unit that
is only to be enabled (the boot unit: started at boot, not by setup) gets None, and the
plan reloads systemd itself, only after it changed a unit file.
"""

from __future__ import annotations

from typing import Any


def systemd_service_arguments(op: dict[str, Any]) -> dict[str, Any]:
    """pyinfra `systemd.service` keyword arguments for one plan `service` operation."""
    return {
        "name": op["name"],
        "service": op["name"],
        "enabled": True,
        "running": True if op["start"] else None,  # False would stop it
    }
