"""The Debian packages a Shipyard host needs, in one list.

`shipyard parity` reports each one's installed version on every host. The setup work
(issue 9) keeps its own list of what `shipyard setup` installs; until that is merged
this constant is the list, and the two should become one (setup's) when it is.
"""

from __future__ import annotations

HOST_PACKAGES: tuple[str, ...] = (
    "nginx",
    "python3",
    "python3-venv",
    "supervisor",
    "openssh-server",
    "restic",
    "postgresql-client",
    "unattended-upgrades",
    "ufw",
    "logrotate",
)
