"""`host OP` (hidden): run one host operation; what Shipyard runs on every server.

The console entry point takes a fast path for it without loading the CLI framework
(`shipyard.cli.entry`); this command is the same thing for `python -m shipyard host`.
"""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="host", hidden=True)(host_command)


def host_command(
    op: Annotated[str, typer.Argument(help="Host operation.")],
    request: Annotated[str | None, typer.Option(help="Request JSON (default: stdin).")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Accepted; replies are JSON.")] = True,
) -> None:
    """Run one host operation (used by Shipyard itself over SSH)."""
    from shipyard.host.agent import main as host_main

    raise typer.Exit(host_main(op, request))
