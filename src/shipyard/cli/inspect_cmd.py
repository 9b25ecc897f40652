"""`status`, `history`, `releases`, `logs`: what runs where, and what happened."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, JsonOption, load_env
from shipyard.errors import ExitCode

if TYPE_CHECKING:
    from shipyard.execute.reporter import PlainReporter

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(history)
    app.command()(releases)
    app.command()(logs)


def _quiet() -> PlainReporter:
    from shipyard.execute.reporter import PlainReporter

    return PlainReporter(stream=sys.stderr)


def _show(data: T, json_output: bool, view: Callable[[T], None]) -> None:
    """JSON for programs, the view's table for people."""
    if json_output:
        output.print_json(data)
    else:
        view(data)


def status(
    env_name: EnvArgument,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Exit 1 when a backup source has no backup within backup.max_age."
        ),
    ] = False,
) -> None:
    """Per host: active release, slots, health; the lock; each backup source's last backup."""
    from shipyard.cli.status_run import show_status

    show_status(config, env_name, json_output=json_output, check=check)


def history(
    env_name: EnvArgument,
    limit: Annotated[int, typer.Option("-n", help="How many, newest first.")] = 20,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Deployments and rollbacks, newest first (kept on the primary host)."""
    from shipyard.cli import views
    from shipyard.execute import queries

    env = failures.guard(lambda: load_env(config, env_name))
    _show(failures.run(queries.history(env, limit, _quiet())), json_output, views.print_history)


def releases(
    env_name: EnvArgument,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Releases on the hosts: what can be rolled back to, and each one's outcome."""
    from shipyard.cli import views
    from shipyard.execute import queries

    env = failures.guard(lambda: load_env(config, env_name))
    _show(failures.run(queries.releases(env, _quiet())), json_output, views.print_releases)


def logs(
    env_name: EnvArgument,
    slot: Annotated[
        str | None, typer.Option(help="blue or green; default: the active slot.")
    ] = None,
    lines: Annotated[int, typer.Option("-n", help="How many lines.")] = 100,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines.")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """The app's log lines from every host."""
    if slot not in (None, "blue", "green"):
        output.fail(f"--slot must be blue or green, not {slot!r}")
        raise typer.Exit(ExitCode.CONFIG)
    from shipyard.execute import queries

    env = failures.guard(lambda: load_env(config, env_name))
    if follow:

        async def stream() -> None:
            async for line in queries.follow_logs(env, slot, lines, _quiet()):
                print(line, flush=True)

        failures.run(stream())
        return
    for block in failures.run(queries.logs(env, slot, lines, _quiet())):
        for line in block.lines:
            print(f"{block.host} [{block.slot}] {line}")
