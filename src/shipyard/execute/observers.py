"""Who else wants to know as phases happen: live views, and the tests' fault injection.

The orchestrator tells every observer about each host's phase events and about each
phase that every host finished (a barrier passed). Nothing in the product reads test
hooks from the environment: the crash tests inject an observer that kills the process
after a chosen phase (tests/support/killing_operator.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from shipyard.protocol.common import DeploymentStart, Probe


class PhaseObserver(Protocol):
    def phase_event(
        self,
        host: str,
        phase: str,
        status: str,
        detail: str,
        *,
        probes: Sequence[Probe] = (),
        log_tail: Sequence[str] = (),
    ) -> None:
        """One host started (`start`), passed (`ok`) or failed (`failed`) a phase; a
        failure's evidence (its last probes, the app's last log lines) comes with it.
        Every text has passed the session's redaction."""
        ...

    def phase_done(self, phase: str) -> None:
        """Every host finished `phase` successfully."""
        ...


@runtime_checkable
class RecordObserver(Protocol):
    """An observer that also wants to know when a deployment record opens and closes
    (deploy alerts sent by the commands themselves when `shipyard serve` is not running).
    Told after the primary has the record; its errors never fail the command."""

    def record_started(self, env: str, start: DeploymentStart) -> None: ...

    def record_finished(
        self, env: str, start: DeploymentStart, outcome: str, error: str | None
    ) -> None: ...
