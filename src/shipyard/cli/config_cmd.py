"""`config check`: validate shipyard.yml and show it resolved, secrets redacted."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, JsonOption
from shipyard.config.errors import ConfigError
from shipyard.errors import ExitCode

config_app = typer.Typer(help="Inspect shipyard.yml.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(
    env_name: Annotated[
        str | None, typer.Argument(metavar="[ENV]", help="One environment.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Validate shipyard.yml; print the resolved config with secrets redacted."""
    from shipyard.config.loader import ConfigFile, resolve_secrets

    loaded = failures.guard(lambda: ConfigFile.load(config))
    names = [env_name] if env_name else loaded.environment_names
    resolved: dict[str, Any] = {}
    problems: list[ConfigError] = []
    for name in names:
        env = failures.guard(lambda n=name: loaded.environment(n))  # type: ignore[misc]
        data = env.model_dump(mode="json")
        data["secrets"] = {
            key: f"*** (from {'$' + ref.from_env if ref.from_env else ref.from_file})"
            for key, ref in env.secrets.items()
        }
        try:
            resolve_secrets(env, config)
        except ConfigError as exc:
            problems.append(exc)
        resolved[name] = data
    if json_output:
        output.print_json(resolved)
    else:
        import yaml

        output.console.print(yaml.safe_dump(resolved, sort_keys=False).rstrip(), markup=False)
    for problem in problems:
        output.fail(str(problem), problem.hint)
    if problems:
        raise typer.Exit(ExitCode.CONFIG)
    output.errors.print(f"{config}: ok ({', '.join(names)})", markup=False)
