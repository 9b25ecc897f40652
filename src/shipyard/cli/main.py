"""The `shipyard` command: the app, its global options, and every command group.

Each group of commands lives in its own module (`deploy_cmd`, `rollback_cmd`,
`inspect_cmd`, `lock_cmd`, `backup_cmd`, `config_cmd`, `gates_cmd`, `demo_cmd`, `host_cmd`) with a
`register(app)`; expected failures become messages and exit codes in `failures`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from typer.main import get_command_name
from typer.models import CommandInfo

from shipyard import __version__
from shipyard.cli.backup_cmd import register as register_backup
from shipyard.cli.config_cmd import register as register_config
from shipyard.cli.deferred_imports import defer_pydantic_plugin_loader
from shipyard.cli.demo_cmd import register as register_demo
from shipyard.cli.deploy_cmd import register as register_deploy
from shipyard.cli.drill_cmd import register as register_drill
from shipyard.cli.fastpath import quiet_asyncio_socket_warnings
from shipyard.cli.gates_cmd import register as register_gates
from shipyard.cli.host_cmd import register as register_host
from shipyard.cli.init_cmd import register as register_init
from shipyard.cli.inspect_cmd import register as register_inspect
from shipyard.cli.lock_cmd import register as register_lock
from shipyard.cli.metrics_cmd import register as register_metrics
from shipyard.cli.options import CliState
from shipyard.cli.parity_cmd import register as register_parity
from shipyard.cli.recover_cmd import register as register_recover
from shipyard.cli.rollback_cmd import register as register_rollback
from shipyard.cli.serve_cmd import register as register_serve
from shipyard.cli.setup_cmd import register as register_setup
from shipyard.cli.tls_cmd import register as register_tls

if TYPE_CHECKING:
    from shipyard.execute.observers import PhaseObserver

HELP = """Zero-downtime blue-green deploys behind nginx, to one server or a fleet over SSH.

Exit codes: 0 ok; 1 deploy or rollback failed (the previous release still serves);
2 bad configuration or usage; 3 the environment is locked by another deploy;
4 a host could not be reached; 5 the release could not be built (git, hooks);
6 a quality gate failed; 7 the environment refused the release (promotion, approval) or a
restore was not confirmed.
"""


def _new_app() -> typer.Typer:
    return typer.Typer(
        help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )


app = _new_app()


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        print(__version__)
        raise typer.Exit(0)
    quiet_asyncio_socket_warnings()


register_init(app)
register_config(app)
register_deploy(app)
register_rollback(app)
register_inspect(app)
register_lock(app)
register_gates(app)
register_backup(app)
register_demo(app)
register_host(app)
register_serve(app)
register_metrics(app)
register_parity(app)
register_tls(app)
register_setup(app)
register_recover(app)
register_drill(app)


def command_app(args: Sequence[str]) -> typer.Typer:
    """The app to run `shipyard ARGS` with: when ARGS start with the name of a command
    (or group of commands), an app that holds only that one, else the whole app.

    typer turns every registered command into a click command (signatures, type hints,
    parameter types) before it parses anything, which cost more than most commands'
    own work; the command named is the only one that can run. Its parsing, help and
    errors are the same (it is the same command under the same name); `shipyard`,
    `shipyard --help`, options before the command and unknown names (which typer
    answers with the commands like it) get the whole app."""
    if not args or args[0].startswith("-"):
        return app
    name = args[0]
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if len(commands) + len(groups) != 1:
        return app
    one = _new_app()
    one.registered_callback = app.registered_callback
    one.registered_commands = commands
    one.registered_groups = groups
    return one


def _command_name(command: CommandInfo) -> str | None:
    if command.name:
        return command.name
    return get_command_name(command.callback.__name__) if command.callback else None


def run(observers: Sequence[PhaseObserver] = ()) -> None:
    """Run the CLI. `observers` watch every phase of the commands that change an
    environment (the crash tests inject one; nothing else does)."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    selected = command_app(sys.argv[1:])
    if selected is not app:  # a command runs: typer builds its parameters with pydantic
        defer_pydantic_plugin_loader()
    try:
        selected(obj=CliState(observers=list(observers)))
    except BrokenPipeError:
        sys.exit(0)
