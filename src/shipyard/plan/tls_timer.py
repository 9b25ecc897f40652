"""The systemd timer that renews an environment's certificates (text only, no I/O).

`shipyard tls timer ENV` installs it (through `execute/tls_timer.install_renewal_timer`)
on the machine that holds the team's shipyard.yml and reaches every host; it runs
`shipyard tls renew ENV` twice a day, which renews only what is due.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class RenewalTimer:
    app: str
    env: str
    command: list[str]  # how Shipyard is run there, e.g. ["/opt/shipyard/bin/shipyard"]
    config: str  # absolute path of shipyard.yml
    user: str | None = None  # run as this user (None: the unit manager's own)

    @property
    def name(self) -> str:
        return f"shipyard-tls-renew-{self.app}-{self.env}"


def renewal_units(timer: RenewalTimer) -> dict[str, str]:
    """`<name>.service` and `<name>.timer`, by file name."""
    argv = [*timer.command, "tls", "renew", timer.env, "--config", timer.config]
    user = f"User={timer.user}\n" if timer.user else ""
    service = f"""# Written by Shipyard: renews {timer.app}/{timer.env}'s certificates when due.
[Unit]
Description=Shipyard: renew TLS certificates of {timer.app}/{timer.env}
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
{user}ExecStart={shlex.join(argv)}
"""
    timer_text = f"""# Written by Shipyard: twice a day, at a random time (as ACME servers ask).
[Unit]
Description=Shipyard: renew TLS certificates of {timer.app}/{timer.env} twice a day

[Timer]
OnCalendar=*-*-* 00,12:00:00
RandomizedDelaySec=1h
Persistent=true

[Install]
WantedBy=timers.target
"""
    return {f"{timer.name}.service": service, f"{timer.name}.timer": timer_text}
