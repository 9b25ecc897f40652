"""`demo`: the example app deployed locally, v1, v2 and a rollback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    port: Annotated[int, typer.Option(help="Local port for the demo's nginx.")] = 8080,
    workdir: Annotated[
        Path, typer.Option(help="Where the demo keeps its repository and hosts.")
    ] = Path(".shipyard-demo"),
    stop: Annotated[bool, typer.Option(help="Stop the demo's processes and exit.")] = False,
) -> None:
    """Deploy the example app locally: v1, v2, then a rollback; print what happened."""
    from shipyard.cli.demo import run_demo, stop_demo

    if stop:
        stop_demo(workdir.resolve())
        return
    raise typer.Exit(run_demo(workdir.resolve(), port))
