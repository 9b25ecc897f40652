"""Options and arguments shared by the commands, and what every command needs to run.

Light on purpose: every command module imports it, so the configuration models
(pydantic) and the execution layer load only when a command runs, never for `--help`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.config.location import DEFAULT_FILE

if TYPE_CHECKING:
    from shipyard.config.model import Environment
    from shipyard.execute.observers import PhaseObserver

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Path to shipyard.yml.", envvar="SHIPYARD_CONFIG")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
EnvArgument = Annotated[
    str, typer.Argument(metavar="ENV", help="Environment name from shipyard.yml.")
]
LockWaitOption = Annotated[
    float, typer.Option(help="Wait up to SECONDS for another command's lock.")
]
DEFAULT_CONFIG = Path(DEFAULT_FILE)


@dataclass(frozen=True)
class CliState:
    """What the entry point gives every command (`typer.Context.obj`): observers of the
    phases, injected by the tests' fault-injection wrapper; none in normal use."""

    observers: list[PhaseObserver] = field(default_factory=list)


def state_of(ctx: typer.Context) -> CliState:
    return ctx.obj if isinstance(ctx.obj, CliState) else CliState()


def load_env(config: Path, env_name: str) -> Environment:
    from shipyard.config.loader import ConfigFile

    return ConfigFile.load(config).environment(env_name)
