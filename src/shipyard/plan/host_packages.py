"""The Debian packages a Shipyard host needs: exactly what `shipyard setup` installs
(`plan/setup_plan.py: PACKAGES`), so `shipyard parity` reports the installed version of
each one on every host and a package setup adds is compared without another edit."""

from __future__ import annotations

from shipyard.plan.setup_plan import PACKAGES

HOST_PACKAGES: tuple[str, ...] = tuple(PACKAGES)
