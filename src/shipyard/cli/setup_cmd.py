"""`shipyard setup ENV [--host HOST] [--check]`: make fresh servers Shipyard hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument

if TYPE_CHECKING:
    from shipyard.config.model import Environment


def register(app: typer.Typer) -> None:
    app.command(name="setup")(setup_command)


def setup_command(
    env_name: EnvArgument,
    host: Annotated[
        str | None, typer.Option("--host", help="Only this host of ENV (its address or name).")
    ] = None,
    check: Annotated[
        bool,
        typer.Option("--check", help="Print what would change on each host; change nothing."),
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Make every host of ENV (or one) a Shipyard host, from a fresh Debian 12 / Ubuntu 24.04.

    Connects as `setup.user` (root or a sudo user) with the same strict host keys as every other command, refuses a host that is not Debian-like or lacks Python 3.11 before changing anything, then (through pyinfra): packages, the deploy user with `setup.authorized_keys`, this exact Shipyard in its own venv, the host's nginx for `nginx.mode: system`, boot units (supervisord and `shipyard repair`), the firewall (SSH, 80, 443), unattended security upgrades, log rotation, SSH password login off; with `backup.schedule`, the backup timers on the primary as the deploy user's own systemd units (lingering on, so they run without a login; they back up nothing before the first deploy); with `setup.serve: true`, `shipyard serve` under systemd (this shipyard.yml rewritten for the host, its secrets as 0600 files, its own SSH key, whose public line is printed as a `next:` step). Idempotent: a second run changes nothing and says so. See docs/setup.md.
    """  # noqa: E501
    from shipyard.config.loader import ConfigFile
    from shipyard.execute.reporter import make_reporter
    from shipyard.execute.setup import select_hosts, setup_hosts

    loaded = failures.guard(lambda: ConfigFile.load(config))
    env = failures.guard(lambda: loaded.environment(env_name))
    hosts = failures.guard(lambda: select_hosts(env, host))
    reporter = make_reporter()
    try:
        report = failures.run(
            setup_hosts(
                env,
                hosts,
                check=check,
                reporter=reporter,
                config_dir=config.parent,
                config_file=config,
            )
        )
    finally:
        reporter.close()
    for entry in report.hosts:
        if check:
            for step, changes in entry.changes.items():
                for change in changes:
                    output.console.print(f"{entry.label}: {step}: would change {change}",
                                         markup=False, highlight=False)  # fmt: skip
        changed = [s for s, status in entry.steps.items() if status in ("changed", "would-change")]
        verb = "would change" if check else "changed"
        summary = f"{verb}: {', '.join(changed)}" if changed else "no changes"
        output.console.print(f"{entry.label}: {summary}", markup=False, highlight=False)
    if not check:
        output.console.print(
            f"set up {len(report.hosts)} host(s) of {env_name} in {report.seconds:.1f}s",
            markup=False,
            highlight=False,
        )
        for step in next_steps(env):
            output.console.print(f"next: {step}", markup=False, highlight=False)
        for entry in report.hosts:
            for step in serve_key_steps(entry.label, entry.public_keys):
                output.console.print(f"next: {step}", markup=False, highlight=False)


def next_steps(env: Environment) -> list[str]:
    """What is left after setup, for what this environment uses (setup changes the
    servers, the backup timers on the primary included; the renewal timer belongs on
    the machine that holds shipyard.yml and has its own command)."""
    steps = [f"shipyard deploy {env.name}"]
    if env.tls.mode == "acme":
        steps.append(
            f"shipyard tls timer {env.name}   # on the machine that holds shipyard.yml: "
            "automatic renewal"
        )
    return steps


def serve_key_steps(label: str, public_keys: list[str]) -> list[str]:
    """What to do with the key serve made on a host: setup never authorizes it by
    itself, since the watched hosts belong to other environments (docs/setup.md)."""
    return [
        f"authorize serve's key from {label} on the hosts it watches: add\n"
        f"    {key}\n  to setup.authorized_keys of each watched environment and run "
        "`shipyard setup ENV` for it (or append it to the deploy user's "
        "~/.ssh/authorized_keys there)"
        for key in public_keys
    ]
