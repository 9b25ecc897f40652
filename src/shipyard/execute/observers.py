"""Who else wants to know as phases happen: live views, and the tests' fault injection.

The orchestrator tells every observer about each host's phase events and about each
phase that every host finished (a barrier passed). Nothing in the product reads test
hooks from the environment: the crash tests inject an observer that kills the process
after a chosen phase (tests/support/killing_operator.py).
"""

from __future__ import annotations

from typing import Protocol


class PhaseObserver(Protocol):
    def phase_event(self, host: str, phase: str, status: str, detail: str) -> None:
        """One host started (`start`), passed (`ok`) or failed (`failed`) a phase."""
        ...

    def phase_done(self, phase: str) -> None:
        """Every host finished `phase` successfully."""
        ...
