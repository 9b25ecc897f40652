"""What `shipyard rollback ENV [RELEASE]` does, without the CLI framework: the typer
command (`rollback_cmd.rollback_command`) and the fast path (`fastpath`) both run it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.cli import failures, output
from shipyard.cli.approver import TerminalApprover

if TYPE_CHECKING:
    from shipyard.execute.observers import PhaseObserver


def roll_back(
    config: Path,
    env_name: str,
    *,
    release: str | None = None,
    message: str = "",
    restore_data: bool = False,
    yes: bool = False,
    lock_wait: float = 0.0,
    observers: Sequence[PhaseObserver] = (),
) -> None:
    """Go back to RELEASE (default: the previous good release) and say how it went."""
    from shipyard.cli.failure_alerts import deploy_alert_observers
    from shipyard.config.loader import ConfigFile
    from shipyard.execute.reporter import make_reporter
    from shipyard.execute.rollback_flow import rollback  # the pipeline's, without deploy's
    from shipyard.execute.runner import Runtime

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = Runtime(
        reporter=make_reporter(),
        approver=TerminalApprover(),
        observers=[*observers, *deploy_alert_observers(loaded)],
    )
    try:
        result = failures.run(
            rollback(
                loaded,
                env_name,
                runtime,
                release=release,
                message=message,
                lock_wait=lock_wait,
                restore_data=restore_data,
                yes=yes,
            )
        )
    finally:
        runtime.reporter.close()
    how = "warm: one switch" if result.warm else "cold: booted, checked, switched"
    total = sum(result.timings.values())
    output.console.print(
        f"rolled back {env_name} to {result.release_id} ({how}) in {total:.2f}s; "
        f"was {result.previous_release}",
        markup=False,
    )
    for note in result.notes:
        output.console.print(note, markup=False)
