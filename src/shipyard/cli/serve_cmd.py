"""`serve`, `checks ENV`, `alerts test`. Everything heavy is imported inside the commands."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, JsonOption
from shipyard.errors import ExitCode

if TYPE_CHECKING:
    from shipyard.config.shipyard_config import ShipyardConfig

alerts_app = typer.Typer(help="Alert channels (apprise URLs named in `alerts.channels`).")


def register(app: typer.Typer) -> None:
    app.command(name="serve")(serve_command)
    app.command(name="checks")(checks_command)
    app.add_typer(alerts_app, name="alerts")


def _load(config: Any) -> ShipyardConfig:
    from shipyard.config.shipyard_config import ShipyardConfig

    return failures.guard(lambda: ShipyardConfig.load(config))


def serve_command(
    listen: Annotated[
        str | None,
        typer.Option(help="host:port to listen on (default: serve.listen, 127.0.0.1:8400)."),
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    hash_password: Annotated[
        bool,
        typer.Option(
            "--hash-password",
            help="Ask for a dashboard password or API token (twice, not echoed; one line "
            "on stdin when not a terminal), print its scrypt hash for serve.auth."
            "password_hash or token_hash, and exit.",
        ),
    ] = False,
) -> None:
    """Run checks, alerts, the dashboard, the JSON API and /metrics until stopped.

    Watches every environment of the file: runs their checks at their intervals, opens
    and resolves incidents, sends alerts to `alerts.channels`, reads deploy records from
    the hosts. State is in the store (serve.store), so a restart loses nothing. See
    docs/observability.md (running it under systemd or supervisord).
    """
    if hash_password:
        _print_hash()
        return
    from shipyard.serve.app import run_serve

    loaded = _load(config)
    if listen is not None and ":" not in listen:
        output.fail(f"--listen {listen!r}: write host:port", "e.g. --listen 127.0.0.1:8400")
        raise typer.Exit(ExitCode.CONFIG)
    failures.guard(lambda: run_serve(loaded, listen))


def _print_hash() -> None:
    from shipyard.serve.web.auth import hash_secret

    if sys.stdin.isatty():
        secret = typer.prompt("Dashboard password", hide_input=True, confirmation_prompt=True)
    else:
        secret = sys.stdin.readline().rstrip("\r\n")
    try:
        print(hash_secret(secret))
    except ValueError as exc:
        output.fail(f"--hash-password: {exc}", "give a non-empty password of at most 1 KiB")
        raise typer.Exit(ExitCode.CONFIG) from None


def checks_command(
    env_name: EnvArgument,
    json_output: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Run the environment's checks once and print the results (exit 1 if any fails)."""
    from shipyard.serve.oneshot import run_checks_once

    loaded = _load(config)
    if env_name not in loaded.environments:
        known = ", ".join(loaded.environments)
        output.fail(f"no environment named {env_name!r} (defined: {known})")
        raise typer.Exit(ExitCode.CONFIG)
    results = failures.run(run_checks_once(loaded, env_name))
    if json_output:
        output.print_json({"environment": env_name, "results": results})
    else:
        rows = [
            [
                r.check,
                r.host,
                "maintenance" if r.maintenance else ("ok" if r.ok else "FAIL"),
                "-" if r.status is None else str(r.status),
                "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms",
                r.error or "",
            ]
            for r in results
        ]
        output.table(
            f"checks of {env_name}", ["check", "host", "result", "status", "time", "error"], rows
        )
    if any(not r.ok and not r.maintenance for r in results):
        raise typer.Exit(ExitCode.FAILED)


@alerts_app.command(name="test")
def alerts_test_command(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Send a test alert to every configured channel; say which took it."""
    import time

    from shipyard.serve.alerts import Alert, AlertKind, channels_of, deliver

    loaded = _load(config)
    if not loaded.alerts.channels:
        output.fail(
            "no alert channels configured",
            "add `alerts: {channels: [NAME]}` and `secrets: {NAME: {from_env: VAR}}` at the "
            "top level of shipyard.yml; VAR holds an apprise URL (slack://..., mailto://...)",
        )
        raise typer.Exit(ExitCode.CONFIG)
    channels = failures.guard(lambda: channels_of(loaded))
    alert = Alert(
        kind=AlertKind.TEST,
        env=", ".join(loaded.environments),
        what="test alert from shipyard alerts test",
        where=f"{loaded.app} ({loaded.path})",
        since=time.time(),
        link=loaded.serve.base_url,
    )
    delivery = deliver(channels, alert, loaded.alerts.timeout)
    for name in delivery.sent:
        output.console.print(f"sent to {name}", markup=False)
    if delivery.failed:
        output.fail(
            f"not delivered to {', '.join(delivery.failed)}",
            "check the apprise URL in that secret and that the service is reachable",
        )
        raise typer.Exit(ExitCode.FAILED)
