"""Failures of host operations, as values the operator can act on."""

from __future__ import annotations

from shipyard.errors import ShipyardError
from shipyard.protocol.common import Probe


class HostOpError(ShipyardError):
    """A host operation failed; carries a hint and any evidence (probes, log lines)."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        probes: list[Probe] | None = None,
        log_tail: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.probes = probes or []
        self.log_tail = log_tail or []
