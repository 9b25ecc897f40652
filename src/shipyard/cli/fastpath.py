"""The two commands people wait on, run without the CLI framework.

`shipyard status ENV` and `shipyard rollback ENV [RELEASE]`, with `--config PATH`
(`-c PATH`, `--config=PATH`, else `SHIPYARD_CONFIG`, else shipyard.yml) and, for
`status`, `--json` and `--check`: these plain forms are parsed here and run the very
function the typer command runs (`status_run.show_status`, `rollback_run.roll_back`),
without importing typer, its click and the pydantic adapters it builds each parameter
with (docs/benchmarks-speed.md). Anything else (another option, `--help`, a value that
starts with `-`, a missing or extra argument) is not handled here: `parse` returns None
and typer parses, helps and errors as always. The tests check that every form accepted
here means to typer exactly what it means here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard.config.location import DEFAULT_FILE

# command -> (its positional parameters, how many are required, its flags, its defaults)
_COMMANDS: dict[str, tuple[tuple[str, ...], int, dict[str, str], dict[str, Any]]] = {
    "status": (
        ("env_name",),
        1,
        {"--json": "json_output", "--check": "check"},
        {"json_output": False, "check": False},
    ),
    "rollback": (
        ("env_name", "release"),
        1,
        {},
        {"release": None, "message": "", "restore_data": False, "yes": False, "lock_wait": 0.0},
    ),
}
_CONFIG_OPTIONS = ("--config", "-c")
CONFIG_ENVVAR = "SHIPYARD_CONFIG"


def parse(args: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
    """(command, its parameters by the typer command's parameter names), or None when
    ARGS are not one of the plain forms (typer runs them)."""
    if not args or args[0] not in _COMMANDS:
        return None
    names, required, flags, defaults = _COMMANDS[args[0]]
    params = dict(defaults)
    positionals: list[str] = []
    config: str | None = None
    rest = iter(args[1:])
    for arg in rest:
        if arg.startswith("--config="):
            value: str | None = arg.removeprefix("--config=")
        elif arg in _CONFIG_OPTIONS:
            value = next(rest, None)
        elif arg in flags:
            params[flags[arg]] = True
            continue
        elif arg.startswith("-"):
            return None  # --help, `--`, an option not handled here, a typo
        else:
            positionals.append(arg)
            continue
        if not value or value.startswith("-") or config is not None:
            return None  # missing, option-like or repeated: typer's rules apply
        config = value
    if not required <= len(positionals) <= len(names):
        return None
    params.update(zip(names, positionals, strict=False))
    params["config"] = Path(config or os.environ.get(CONFIG_ENVVAR) or DEFAULT_FILE)
    return args[0], params


def run(args: Sequence[str]) -> bool:
    """Run ARGS here if they are a plain form of a hot command; False: typer runs them."""
    parsed = parse(args)
    if parsed is None:
        return False
    command, params = parsed
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    quiet_asyncio_socket_warnings()
    from shipyard.cli.deferred_imports import defer_pydantic_plugin_loader

    defer_pydantic_plugin_loader()  # as for every command typer runs
    try:
        _runner(command)(**params)
    except BrokenPipeError:
        sys.exit(0)
    return True


def _runner(command: str) -> Callable[..., None]:
    if command == "status":
        from shipyard.cli.status_run import show_status

        return show_status
    from shipyard.cli.rollback_run import roll_back

    return roll_back


def quiet_asyncio_socket_warnings() -> None:
    """asyncio warns once per write on a dead SSH socket ("socket.send() raised
    exception."); the failure itself is reported, once, as a host error. Set when a
    command runs (typer's app callback, or here), so that `shipyard --help` does not
    load logging."""
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
