"""`drill rollback|restore|recover ENV`: rehearse a recovery, record the real time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, JsonOption, state_of

if TYPE_CHECKING:
    from shipyard.execute.pipeline import Runtime
    from shipyard.protocol.drills import DrillRecord

drill_app = typer.Typer(
    help="Rehearse recoveries; each records its real recovery time, shown by `status` "
    "(docs/backups.md#drills)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(drill_app, name="drill")


def _runtime(ctx: typer.Context) -> Runtime:
    from shipyard.execute import pipeline
    from shipyard.execute.reporter import make_reporter

    return pipeline.Runtime(reporter=make_reporter(), observers=state_of(ctx).observers)


def _show(entry: DrillRecord, json_output: bool) -> None:
    from shipyard.plan.drills import describe
    from shipyard.protocol.codec import encode

    if json_output:
        output.print_json(encode(entry))
    else:
        output.console.print(describe(entry), markup=False)


@drill_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Roll back to the predecessor and forward again (run it on staging).

    Records the time to restore service: the rollback, until traffic is verified on the
    predecessor.
    """
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import drills

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = _runtime(ctx)
    try:
        entry = failures.run(drills.drill_rollback(loaded, env_name, runtime))
    finally:
        runtime.reporter.close()
    _show(entry, json_output)


@drill_app.command("restore")
def restore_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Restore the newest snapshot of every source into scratch and verify it."""
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import drills

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = _runtime(ctx)
    try:
        entry = failures.run(drills.drill_restore(loaded, env_name, runtime))
    finally:
        runtime.reporter.close()
    _show(entry, json_output)


@drill_app.command("recover")
def recover_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    to: Annotated[str, typer.Option("--to", help="A scratch Shipyard host (user@host[:port]).")],
    root: Annotated[str | None, typer.Option(help="The root on the scratch host.")] = None,
    listen: Annotated[
        str | None, typer.Option(help="nginx's listen address on the scratch host.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """`recover` ENV onto a scratch host, then tear it down.

    PostgreSQL sources are restored into scratch databases on the same servers
    (shipyard_drill_*), dropped afterwards: a drill never writes to the real data.
    """
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import drills

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = _runtime(ctx)
    try:
        entry = failures.run(
            drills.drill_recover(loaded, env_name, runtime, to=to, root=root, listen=listen)
        )
    finally:
        runtime.reporter.close()
    _show(entry, json_output)
