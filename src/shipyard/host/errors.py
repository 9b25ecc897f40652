"""Failures of host operations, as values the operator can act on."""

from __future__ import annotations

from typing import Any


class HostOpError(Exception):
    """A host operation failed; carries a hint and any evidence (probes, log lines)."""

    def __init__(self, message: str, hint: str = "", **evidence: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.evidence = evidence
