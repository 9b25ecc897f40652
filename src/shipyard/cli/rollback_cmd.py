"""`rollback` and `repair`: back to a good release; back to a consistent environment."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    EnvArgument,
    LockWaitOption,
    TerminalApprover,
    state_of,
)


def register(app: typer.Typer) -> None:
    app.command(name="rollback")(rollback_command)
    app.command(name="repair")(repair_command)


def rollback_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    release: Annotated[
        str | None, typer.Argument(help="Release id; default: the previous good one.")
    ] = None,
    message: Annotated[str, typer.Option(help="Why: recorded in the lock and history.")] = "",
    restore_data: Annotated[
        bool,
        typer.Option(
            "--restore-data",
            help="Also restore the pre-migration backup the deployment being rolled back "
            "took (asks first on a terminal; --yes otherwise). Without it data is never "
            "restored: the rollback only says that such a backup exists.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask before --restore-data replaces data.")
    ] = False,
    lock_wait: LockWaitOption = 0.0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Go back to RELEASE (default: the previous good release).

    One switch while its slot is still warm; otherwise it boots with exactly the runtime it was recorded with (start, workers, health, env; see `shipyard releases`), secret values read here now, and where (hosts, paths, nginx) from the current file.
    """  # noqa: E501
    from shipyard.cli.serve_cmd import deploy_alert_observers
    from shipyard.config.loader import ConfigFile
    from shipyard.execute.reporter import make_reporter
    from shipyard.execute.rollback_flow import rollback  # the pipeline's, without deploy's
    from shipyard.execute.runner import Runtime

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = Runtime(
        reporter=make_reporter(),
        approver=TerminalApprover(),
        observers=[*state_of(ctx).observers, *deploy_alert_observers(loaded)],
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


def repair_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    lock_wait: LockWaitOption = 0.0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Converge ENV after a crash, a lost link or a host restart.

    Restarts supervisord, nginx and the active release where they are down, points nginx back at the active slot, stops slots an interrupted deploy left booting, marks interrupted deployments, and puts every host on one release if a switch was cut short.
    """  # noqa: E501
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import pipeline
    from shipyard.execute.reporter import PlainReporter

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = pipeline.Runtime(
        reporter=PlainReporter(stream=sys.stderr), observers=state_of(ctx).observers
    )
    actions = failures.run(pipeline.repair(loaded, env_name, runtime, lock_wait=lock_wait))
    for action in actions:
        output.console.print(f"- {action}", markup=False)
    output.console.print(
        f"{env_name} is consistent" + (" (nothing to do)" if not actions else ""), markup=False
    )
