"""The `shipyard` command: the app, its global options, and every command group.

Each group of commands lives in its own module (`deploy_cmd`, `rollback_cmd`,
`inspect_cmd`, `lock_cmd`, `config_cmd`, `gates_cmd`, `demo_cmd`, `host_cmd`) with a
`register(app)`; expected failures become messages and exit codes in `failures`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from shipyard import __version__
from shipyard.cli import failures, output
from shipyard.cli.config_cmd import register as register_config
from shipyard.cli.demo_cmd import register as register_demo
from shipyard.cli.deploy_cmd import register as register_deploy
from shipyard.cli.gates_cmd import register as register_gates
from shipyard.cli.host_cmd import register as register_host
from shipyard.cli.inspect_cmd import register as register_inspect
from shipyard.cli.lock_cmd import register as register_lock
from shipyard.cli.options import CliState
from shipyard.cli.rollback_cmd import register as register_rollback
from shipyard.config.loader import DEFAULT_FILE
from shipyard.errors import ExitCode
from shipyard.execute.observers import PhaseObserver

HELP = """Zero-downtime blue-green deploys behind nginx, to one server or a fleet over SSH.

Exit codes: 0 ok; 1 deploy or rollback failed (the previous release still serves);
2 bad configuration or usage; 3 the environment is locked by another deploy;
4 a host could not be reached; 5 the release could not be built (git, hooks);
6 a quality gate failed; 7 the environment refused the release (promotion, approval).
"""

app = typer.Typer(
    help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        print(__version__)
        raise typer.Exit(0)


@app.command()
def init(
    path: Annotated[Path, typer.Option(help="Where to write the file.")] = Path(DEFAULT_FILE),
    app_name: Annotated[str | None, typer.Option("--app", help="App name.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
    github: Annotated[
        bool,
        typer.Option(
            "--github",
            help="Write .github/workflows/ (CI, deploy to staging, promote, hotfix) for an "
            "existing shipyard.yml.",
        ),
    ] = False,
    install_command: Annotated[
        str | None,
        typer.Option(help="How the workflows install Shipyard (default: pip install shipyard)."),
    ] = None,
    staging: Annotated[str, typer.Option(help="The staging environment's name.")] = "staging",
    production: Annotated[
        str, typer.Option(help="The production environment's name.")
    ] = "production",
    python: Annotated[str, typer.Option(help="Python version in the workflows.")] = "3.11",
) -> None:
    """Write a commented shipyard.yml for the current repository (or, with --github, the GitHub Actions workflows)."""  # noqa: E501
    if github:
        from shipyard.github import GitHubSetupError, write_workflows

        extra = {"install_command": install_command} if install_command else {}
        try:
            written = failures.guard(
                lambda: write_workflows(
                    None,
                    path,
                    force,
                    staging=staging,
                    production=production,
                    python_version=python,
                    **extra,
                )
            )
        except GitHubSetupError as exc:
            output.fail(exc.message, exc.hint)
            raise typer.Exit(ExitCode.CONFIG) from None
        for file in written:
            output.console.print(f"wrote {file}", markup=False)
        output.console.print(
            "next: create the secrets and environments in docs/push-to-production.md"
        )
        return
    from shipyard.cli.init_template import render_template

    if path.exists() and not force:
        output.fail(f"{path} already exists", "pass --force to overwrite it")
        raise typer.Exit(ExitCode.CONFIG)
    name = app_name or _app_name_from(Path.cwd())
    path.write_text(render_template(name))
    ignore = path.parent / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    if ".shipyard/" not in lines:
        # the `local` environment keeps its hosts' files there: never part of a release
        with ignore.open("a") as handle:
            handle.write(("\n" if lines and lines[-1] else "") + ".shipyard/\n")
    output.console.print(f"wrote {path}: edit hosts and start, then `shipyard config check`")


def _app_name_from(directory: Path) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in directory.name.lower()).strip("-")
    return (cleaned or "app")[:40] if cleaned[:1].isalpha() else f"app-{cleaned}"[:40]


register_config(app)
register_deploy(app)
register_rollback(app)
register_inspect(app)
register_lock(app)
register_gates(app)
register_demo(app)
register_host(app)


def run(observers: Sequence[PhaseObserver] = ()) -> None:
    """Run the CLI. `observers` watch every phase of the commands that change an
    environment (the crash tests inject one; nothing else does)."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        app(obj=CliState(observers=list(observers)))
    except BrokenPipeError:
        sys.exit(0)
