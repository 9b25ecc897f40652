"""Who answers a command's questions: the person at the terminal, when there is one."""

from __future__ import annotations

import sys

from shipyard.core.ci import in_ci


class TerminalApprover:
    """Asks the person at the terminal; nobody when not on a terminal, or in CI."""

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and not in_ci()

    def confirm(self, question: str) -> bool:
        import typer  # only when someone is asked: the rollback fast path runs without it

        return typer.confirm(question, default=False)
