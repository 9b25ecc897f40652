"""`shipyard gates`: run the quality gates alone, with nothing built or deployed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import output
from shipyard.config.errors import ConfigError
from shipyard.config.location import DEFAULT_FILE
from shipyard.errors import ExitCode

if TYPE_CHECKING:
    from shipyard.config.gates import GatesConfig
    from shipyard.gates import GatesReport

GATES = ExitCode.GATES  # 6: a gate failed, or could not run and fails closed

STATUS_STYLE = {"pass": "green", "fail": "red", "unknown": "yellow", "skipped": "dim"}


def register(app: typer.Typer) -> None:
    """Add `shipyard gates` to the CLI."""
    app.command(name="gates")(gates_command)


def gates_command(
    env_name: Annotated[
        str | None,
        typer.Argument(
            metavar="[ENV]", help="Environment whose gates to run; default: the base `gates:`."
        ),
    ] = None,
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="Path to shipyard.yml.", envvar="SHIPYARD_CONFIG"),
    ] = Path(DEFAULT_FILE),
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
    skip_optional: Annotated[
        bool, typer.Option("--skip-optional", help="Skip gates marked optional.")
    ] = False,
) -> None:
    """Run the quality gates (commands, pip-audit, bandit) in the app directory.

    Exit status 0 if every gate passed or was skipped; 6 if one failed or could not run
    (unknown fails closed unless the gate says on_unknown: warn); 2 for bad configuration.
    """

    from shipyard.gates import run_gates

    try:
        gates = load_gates(config, env_name)
    except ConfigError as exc:
        output.fail(str(exc), exc.hint)
        raise typer.Exit(ExitCode.CONFIG) from None
    variables = {"SHIPYARD_ENV": env_name} if env_name else {}
    report = run_gates(
        config.resolve().parent,
        gates,
        include_optional=not skip_optional,
        variables=variables,
        on_start=lambda name: output.errors.print(f"running {name} ...", markup=False),
    )
    if json_output:
        output.print_json(report.to_json())
    else:
        print_report(report)
    if not report.passed:
        output.fail(report.describe())
        raise typer.Exit(GATES)


def load_gates(config_path: Path, env_name: str | None) -> GatesConfig:
    """ENV's gates, or (without ENV) the base `gates:` every environment starts from."""
    from pydantic import ValidationError

    from shipyard.config.gates import GatesConfig
    from shipyard.config.loader import ConfigFile

    loaded = ConfigFile.load(config_path)
    if env_name is not None:
        return loaded.environment(env_name).gates
    try:
        return GatesConfig.model_validate(loaded.data.get("gates") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where: tuple[str | int, ...] = ("gates", *first["loc"])
        known = [where[:n] for n in range(len(where), 0, -1) if where[:n] in loaded.lines]
        line = loaded.lines[known[0]] if known else None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; see docs/gates.md)"
        raise ConfigError(
            str(config_path),
            message,
            key_path=".".join(str(part) for part in where),
            line=line,
        ) from None


def print_report(report: GatesReport) -> None:
    from rich.text import Text

    from shipyard.gates import explain

    rows: list[list[str | Text]] = []
    for result in report.results:
        style = STATUS_STYLE[result.status]
        status = Text(result.status, style=style) + (" (warn)" if result.warning else "")
        rows.append([result.name, status, f"{result.duration_s:.1f}s", result.summary])
    output.table("quality gates", ["gate", "status", "duration", "summary"], rows)
    for result in report.results:
        if result.ok and not result.warning:
            continue
        lines = explain(result)
        if lines:
            output.console.print(f"\n{result.name} ({result.status}):", markup=False)
            for line in lines:
                output.console.print("  " + line, markup=False)
    verdict = "passed" if report.passed else "FAILED"
    output.console.print(f"\ngates {verdict} in {report.duration_s:.1f}s", markup=False)
