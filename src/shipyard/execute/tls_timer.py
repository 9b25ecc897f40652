"""Install the renewal timer (plan/tls_timer.py's units) on a machine, through a Transport.

`shipyard tls timer ENV` calls `install_renewal_timer` on the machine that holds
shipyard.yml and reaches every host (docs/tls.md#renewal); tests install into a scratch unit
directory without systemd (`enable=False`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.plan.tls_timer import RenewalTimer, renewal_units
from shipyard.transport.base import Transport

SYSTEM_UNITS = "/etc/systemd/system"


@dataclass(frozen=True)
class TimerInstalled:
    name: str
    changed: list[str]  # unit files written (empty: they were already so)
    enabled: bool


async def install_renewal_timer(
    transport: Transport,
    timer: RenewalTimer,
    *,
    unit_dir: str = SYSTEM_UNITS,
    enable: bool = True,
) -> TimerInstalled:
    """Write the service and timer units where they differ; then daemon-reload and
    `enable --now` the timer (idempotent: a second run changes nothing)."""
    changed = []
    for filename, text in renewal_units(timer).items():
        target = f"{unit_dir}/{filename}"
        current = await transport.run(["cat", target])
        if current.ok and current.stdout == text:
            continue
        with tempfile.TemporaryDirectory() as scratch:
            local = Path(scratch) / filename
            local.write_text(text)
            await transport.put(local, target)
        changed.append(target)
    if enable:
        for argv in (
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", f"{timer.name}.timer"],
        ):
            result = await transport.run(argv, timeout=60)
            if not result.ok:
                why = result.stderr.strip()[-300:]
                raise ShipyardError(
                    f"{' '.join(argv)} failed on {transport.label}: {why}",
                    hint=f"the units are in {unit_dir}; see `systemctl status {timer.name}.timer`",
                )
    return TimerInstalled(timer.name, changed, enable)
