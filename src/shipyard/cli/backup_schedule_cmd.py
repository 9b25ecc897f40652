"""`backup schedule install|show ENV`: the systemd timers that back up and verify on
their own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.options import DEFAULT_CONFIG, ConfigOption, EnvArgument, JsonOption

if TYPE_CHECKING:
    from shipyard.protocol.backup_schedule import ScheduleInstallReply

schedule_app = typer.Typer(
    help="Backups and verifies on a schedule: systemd timers on the primary "
    "(`backup.schedule` in shipyard.yml; docs/backups.md#schedules)."
)


@schedule_app.command("install")
def install_command(
    env_name: EnvArgument,
    no_enable: Annotated[
        bool, typer.Option("--no-enable", help="Write the units, do not enable the timers.")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Install the backup and verify timers on the primary over SSH, and enable them.

    As root on the host: system units (/etc/systemd/system, `systemctl`); as the deploy user of a host made by `shipyard setup` (which installs them itself): user units (~/.config/systemd/user, `systemctl --user`). The services run `shipyard host backup-run` / `backup-verify` with their request (secrets included) read from a 0600 file under <env>/backups/schedule/.
    """  # noqa: E501
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import backup, backup_schedule
    from shipyard.execute.reporter import PlainReporter
    from shipyard.protocol.codec import encode

    loaded = failures.guard(lambda: ConfigFile.load(config))

    async def install() -> ScheduleInstallReply:
        p = backup.Plan.load(loaded, env_name)
        session = p.session(PlainReporter(stream=sys.stderr))
        await session.open(hosts=[session.primary])
        try:
            return await backup_schedule.install_schedule(session, p, enable=not no_enable)
        finally:
            await session.close()

    reply = failures.run(install())
    if json_output:
        output.print_json(encode(reply))
        return
    for path in reply.unit_files:
        verb = "wrote" if path in reply.changed else "unchanged"
        output.console.print(f"{verb} {path}", markup=False)
    if reply.enabled:
        output.console.print(f"enabled and started: {', '.join(reply.enabled)}", markup=False)
    if reply.note:
        output.console.print(reply.note, markup=False)


@schedule_app.command("show")
def show_command(env_name: EnvArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Print the units `install` would write (no secrets: those are in the request files)."""
    from shipyard.config.loader import ConfigFile
    from shipyard.execute import backup, backup_schedule

    loaded = failures.guard(lambda: ConfigFile.load(config))
    p = failures.guard(lambda: backup.Plan.load(loaded, env_name))
    unit_dir = p.backup.schedule.unit_dir
    for name, text in backup_schedule.units(p).items():
        where = str(Path(unit_dir) / name) if unit_dir else f"{name} {DEFAULT_PLACE}"
        output.console.print(f"# {where}", markup=False)
        output.console.print(text, markup=False)


DEFAULT_PLACE = (
    "(in /etc/systemd/system where the host runs Shipyard as root, "
    "else in the deploy user's ~/.config/systemd/user)"
)
