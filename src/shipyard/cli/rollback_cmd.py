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
    from shipyard.cli.rollback_run import roll_back

    roll_back(
        config,
        env_name,
        release=release,
        message=message,
        restore_data=restore_data,
        yes=yes,
        lock_wait=lock_wait,
        observers=state_of(ctx).observers,
    )


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
