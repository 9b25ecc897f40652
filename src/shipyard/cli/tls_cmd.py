"""`tls status|renew`: the environment's HTTPS certificates (docs/tls.md)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    EnvArgument,
    JsonOption,
    LockWaitOption,
    load_env,
)

if TYPE_CHECKING:
    from shipyard.execute.reporter import PlainReporter
    from shipyard.execute.tls import HostCertificate

tls_app = typer.Typer(help="HTTPS certificates: what each host serves; renew what is due.")


def register(app: typer.Typer) -> None:
    app.add_typer(tls_app, name="tls")


def _quiet() -> PlainReporter:
    from shipyard.execute.reporter import PlainReporter

    return PlainReporter(stream=sys.stderr)


def certificate_rows(hosts: list[HostCertificate], now: float) -> list[list[str]]:
    """One row per host and name: issuer, expiry, days left, last renewal, due."""
    from shipyard.plan.tls import days_left

    rows = []
    for host in hosts:
        cert = host.certificate
        if cert is None:
            rows.append([host.host, "-", "-", "-", "-", "-", host.problem or host.due or ""])
            continue
        expiry = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(cert.not_after))
        renewed = (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(cert.renewed_at))
            if cert.renewed_at
            else "-"
        )
        for name in cert.names or ["-"]:
            rows.append(
                [
                    host.host,
                    name,
                    cert.issuer,
                    expiry,
                    f"{days_left(cert, now):.1f}",
                    renewed,
                    host.due or "ok",
                ]
            )
    return rows


COLUMNS = ["host", "name", "issuer", "expires", "days left", "last renewal", "due"]


@tls_app.command("status")
def tls_status(
    env_name: EnvArgument, config: ConfigOption = DEFAULT_CONFIG, json_output: JsonOption = False
) -> None:
    """Per host and name: issuer, expiry, days left, last renewal, and whether it is due."""
    from shipyard.execute import tls

    env = failures.guard(lambda: load_env(config, env_name))
    data = failures.run(tls.status(env, _quiet()))
    if json_output:
        output.print_json(data)
        return
    output.console.print(
        f"{data.environment}: tls {data.mode}, names {', '.join(data.names)}, "
        f"renewed at {data.renew_before_days} days left or fewer",
        markup=False,
    )
    output.table("", COLUMNS, certificate_rows(data.hosts, time.time()))


@tls_app.command("renew")
def tls_renew(
    env_name: EnvArgument,
    force: Annotated[
        bool, typer.Option("--force", help="Renew even if no certificate is due.")
    ] = False,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="Renew now with a new private key (acme keeps the key otherwise); "
            "nginx serves it from the next handshake, without a reload.",
        ),
    ] = False,
    lock_wait: LockWaitOption = 0.0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Renew what is due (30 days or fewer left), missing, or not covering the names.

    Installs the new certificate on every host, under the environment's lock, without
    reloading nginx: an acme renewal keeps the hosts' private key and replaces only the
    certificate file; a new key (the first certificate, --new-key) is a new key directory
    nginx's links are renamed to. Turning TLS on here (no deploy since) first gives
    nginx's site the ACME path and the HTTPS server with a placeholder certificate: that
    is one reload, before the order; plain HTTP redirects once a real certificate
    serves. A failure exits 1 naming the name, the hosts and the ACME server's error;
    what nginx serves is left as it was. With `alerts:` configured, a failure also sends
    a TLS RENEWAL FAILED alert to its channels.
    """
    from shipyard.cli.failure_alerts import listen_for_tls_failures
    from shipyard.config.loader import ConfigFile, resolve_secrets
    from shipyard.execute import tls
    from shipyard.execute.reporter import PlainReporter

    loaded = failures.guard(lambda: ConfigFile.load(config))
    env = failures.guard(lambda: loaded.environment(env_name))
    secrets = failures.guard(lambda: resolve_secrets(env, loaded.path))
    listen_for_tls_failures(loaded)
    result = failures.run(
        tls.renew(
            env,
            secrets,
            loaded.path.parent,
            PlainReporter(stream=sys.stderr),
            force=force,
            new_key=new_key,
            lock_wait=lock_wait,
        )
    )
    verdict = "renewed" if result.renewed else "nothing to renew"
    output.console.print(f"{env.name}: {verdict} ({result.reason})", markup=False)
    if result.renewed:
        reloads = ", ".join(result.reloaded) or "none"
        output.console.print(f"key: {result.key}; nginx reloaded on: {reloads}", markup=False)
    output.table("", COLUMNS, certificate_rows(result.hosts, time.time()))


@tls_app.command("timer")
def tls_timer(
    env_name: EnvArgument,
    unit_dir: Annotated[
        str, typer.Option("--unit-dir", help="Where the systemd units go.")
    ] = "/etc/systemd/system",
    enable: Annotated[
        bool,
        typer.Option(
            "--enable/--no-enable",
            help="Run `systemctl daemon-reload` and `enable --now` the timer (off: write "
            "the units only).",
        ),
    ] = True,
    user: Annotated[
        str | None, typer.Option("--user", help="Run the renewals as this user.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Install automatic renewal on THIS machine: a systemd timer that runs `shipyard tls
    renew ENV` twice a day (it renews only what is due).

    Run it where the team's shipyard.yml lives and every host is reachable over SSH (an
    operations machine, or the droplet itself for a `hosts: [local]` environment). A
    second run changes nothing.
    """
    import shutil
    from pathlib import Path

    from shipyard.config.loader import ConfigFile
    from shipyard.execute.tls_timer import install_renewal_timer
    from shipyard.plan.tls_timer import RenewalTimer
    from shipyard.transport.local import LocalTransport

    loaded = failures.guard(lambda: ConfigFile.load(config))
    env = failures.guard(lambda: loaded.environment(env_name))
    if env.tls.mode == "off":
        output.fail(
            f"{env.name} has tls.mode: off: there is nothing to renew",
            "set tls.mode (acme, files or self-signed) in shipyard.yml first (docs/tls.md)",
        )
        raise typer.Exit(2)
    command = shutil.which("shipyard") or str(Path(sys.argv[0]).resolve())
    timer = RenewalTimer(
        app=env.app,
        env=env.name,
        command=[command],
        config=str(Path(loaded.path).resolve()),
        user=user,
    )
    installed = failures.run(
        install_renewal_timer(LocalTransport(), timer, unit_dir=unit_dir, enable=enable)
    )
    if installed.changed:
        for path in installed.changed:
            output.console.print(f"wrote {path}", markup=False)
    else:
        output.console.print(f"{installed.name}: no changes", markup=False)
    if installed.enabled:
        output.console.print(f"enabled {installed.name}.timer", markup=False)
