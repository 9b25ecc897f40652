"""`lock status|acquire|release`: the environment's deploy lock, held on the primary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, load_env

if TYPE_CHECKING:
    from shipyard.execute.reporter import PlainReporter

lock_app = typer.Typer(help="The environment's deploy lock (held on the primary host).")


def register(app: typer.Typer) -> None:
    app.add_typer(lock_app, name="lock")


def _quiet() -> PlainReporter:
    from shipyard.execute.reporter import PlainReporter

    return PlainReporter(stream=sys.stderr)


@lock_app.command("status")
def lock_status(env_name: EnvArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Who holds the lock, since when, why; whether it is stale."""
    from shipyard.execute import queries
    from shipyard.execute.locking import describe_lock

    env = failures.guard(lambda: load_env(config, env_name))
    lock = failures.run(queries.lock_status(env, _quiet()))
    output.console.print(describe_lock(lock) if lock else f"{env.name} is not locked", markup=False)


@lock_app.command("acquire")
def lock_acquire(
    env_name: EnvArgument,
    reason: Annotated[str, typer.Option(help="Why: shown to anyone who tries to deploy.")] = "",
    force: Annotated[bool, typer.Option(help="Take it even if someone holds it.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Hold the lock by hand (e.g. during maintenance) until `lock release`."""
    from shipyard.execute import queries
    from shipyard.execute.locking import describe_lock

    env = failures.guard(lambda: load_env(config, env_name))
    lock = failures.run(queries.lock_acquire(env, _quiet(), reason=reason, force=force))
    output.console.print(describe_lock(lock) if lock else "", markup=False)


@lock_app.command("release")
def lock_release(
    env_name: EnvArgument,
    force: Annotated[
        bool, typer.Option(help="Release a lock someone else holds (e.g. a stale one).")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Release the lock."""
    from shipyard.execute import queries
    from shipyard.execute.locking import describe_lock

    env = failures.guard(lambda: load_env(config, env_name))
    released = failures.run(queries.lock_release(env, _quiet(), force=force))
    output.console.print(
        f"released: {describe_lock(released)}" if released else f"{env.name} was not locked",
        markup=False,
    )
