"""`recover ENV --to HOST`: the environment on a new server, data included."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    EnvArgument,
    JsonOption,
    LockWaitOption,
    state_of,
)

ToOption = Annotated[
    str,
    typer.Option(
        "--to",
        help="The new server: an address listed in the environment's hosts (used as it "
        "is), or user@host[:port] (the primary's root and listen address unless given).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command(name="recover")(recover_command)


def recover_command(
    ctx: typer.Context,
    env_name: EnvArgument,
    to: ToOption,
    root: Annotated[
        str | None, typer.Option(help="The environment's root on the new server.")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="nginx's listen address on the new server.")
    ] = None,
    release: Annotated[
        str | None,
        typer.Option(
            help="Deploy this release id (default: the old hosts' active release, else the "
            "one the newest backup was taken under)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Recover onto a host that already serves ENV.")
    ] = False,
    lock_wait: LockWaitOption = 0.0,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Recover ENV onto a new server: setup, the active release (same sha256, rebuilt from
    its commit), the newest verified backup of every source, health checked.

    For an environment that `shipyard setup` makes, the new server needs only sshd and root's key: recover runs setup there first.

    Prints the one step left: point DNS or the load balancer at the new server. Refuses a host that already serves ENV unless --force. Records the recovery time, per step (`shipyard status ENV`). Guide: docs/runbooks/server-gone.md.
    """  # noqa: E501
    from dataclasses import asdict

    from shipyard.config.loader import ConfigFile
    from shipyard.execute import pipeline
    from shipyard.execute.reporter import make_reporter
    from shipyard.plan.recover import describe_steps

    loaded = failures.guard(lambda: ConfigFile.load(config))
    runtime = pipeline.Runtime(reporter=make_reporter(), observers=state_of(ctx).observers)
    try:
        result = failures.run(
            pipeline.recover(
                loaded,
                env_name,
                runtime,
                to=to,
                root=root,
                listen=listen,
                release=release,
                force=force,
                lock_wait=lock_wait,
            )
        )
    finally:
        runtime.reporter.close()
    if json_output:
        output.print_json(asdict(result) | {"seconds": result.seconds})
        return
    output.console.print(
        f"recovered {env_name} onto {to}: release {result.release_id} "
        f"(from {result.release_from}) in {result.seconds:.1f}s: {describe_steps(result.steps)}",
        markup=False,
    )
    for r in result.restored:
        output.console.print(
            f"  {r.source}: restored snapshot {r.snapshot_id} in {r.seconds:.1f}s", markup=False
        )
    output.console.print(result.next_step, markup=False)
