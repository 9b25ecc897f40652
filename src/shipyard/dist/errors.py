"""Failures of distribution steps, with what to do next."""

from __future__ import annotations


class DistError(Exception):
    """A wheel of Shipyard could not be made or found; says why and what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message
