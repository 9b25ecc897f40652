"""What a deploy or rollback ends in: a result, or an error the CLI can show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute.hostclient import HostError
from shipyard.execute.session import host_error_lines

_HINTS = {
    "auto-rolled-back": "every host is back on the previous release, and this one is marked bad",
    "smoke-failed": "every host is back on the previous release, and this one is marked bad",
}


class DeployFailed(ShipyardError):
    """The deploy did not stay live; the previous release is serving (exit 1)."""

    exit_code = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        errors: Sequence[HostError] = (),
        *,
        outcome: str = "failed",
        figures: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        default = "the previous release is serving; see `shipyard status` and `shipyard history`"
        super().__init__(message, hint if hint is not None else _HINTS.get(outcome, default))
        self.errors = list(errors)
        self.outcome = outcome
        self.figures = figures or {}

    def details(self) -> list[str]:
        return host_error_lines(self.errors)


class RollbackFailed(ShipyardError):
    """The rollback did not happen; what served before it still serves (exit 1)."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, errors: Sequence[HostError] = (), hint: str = "") -> None:
        super().__init__(
            message,
            hint
            or "what served before still serves; see `shipyard status` and `shipyard releases`",
        )
        self.errors = list(errors)

    def details(self) -> list[str]:
        return host_error_lines(self.errors)


@dataclass(frozen=True)
class DeployResult:
    deployment_id: str
    release_id: str
    previous_release: str | None
    timings: dict[str, float]


@dataclass(frozen=True)
class RollbackResult:
    deployment_id: str
    release_id: str
    previous_release: str | None
    warm: bool
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)  # for the user: the pre-migration backup
