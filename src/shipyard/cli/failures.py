"""Expected failures -> a message, its evidence, a hint and the exit code: in one place.

Every error a user can see is a `ShipyardError` (see `shipyard.errors`); commands run
their work through `run` (async) or `guard` (sync), which print it and exit with its
code. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer

from shipyard.cli import output
from shipyard.errors import ExitCode, ShipyardError

T = TypeVar("T")


def report(exc: ShipyardError) -> typer.Exit:
    output.fail(str(exc), exc.hint, exc.details())
    return typer.Exit(exc.exit_code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run an async command; turn expected failures into messages and exit codes."""
    import asyncio

    try:
        return asyncio.run(coro)
    except ShipyardError as exc:
        raise report(exc) from None
    except KeyboardInterrupt:
        output.fail("interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


def guard(action: Callable[[], T]) -> T:
    """Run a sync step (load the config, resolve secrets...) the same way."""
    try:
        return action()
    except ShipyardError as exc:
        raise report(exc) from None
