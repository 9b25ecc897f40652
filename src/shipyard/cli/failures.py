"""Expected failures -> a message, its evidence, a hint and the exit code: in one place.

Every error a user can see is a `ShipyardError` (see `shipyard.errors`); commands run
their work through `run` (async) or `guard` (sync), which print it and exit with its
code. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from shipyard.cli import output
from shipyard.core import startup_gc
from shipyard.errors import ExitCode, ShipyardError

T = TypeVar("T")


def report(exc: ShipyardError) -> SystemExit:
    """Print the failure; the exit to raise with its code. (SystemExit, not typer's Exit:
    the commands that run without typer (`shipyard.cli.fastpath`) use this module too, and
    under typer both end the process with the code.)"""
    output.fail(str(exc), exc.hint, exc.details())
    return SystemExit(exc.exit_code)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run an async command; turn expected failures into messages and exit codes."""
    import asyncio

    startup_gc.resume()
    try:
        return asyncio.run(coro)
    except ShipyardError as exc:
        raise report(exc) from None
    except KeyboardInterrupt:
        output.fail("interrupted")
        raise SystemExit(ExitCode.INTERRUPTED) from None


def guard(action: Callable[[], T]) -> T:
    """Run a sync step (load the config, resolve secrets...) the same way."""
    startup_gc.resume()
    try:
        return action()
    except ShipyardError as exc:
        raise report(exc) from None
