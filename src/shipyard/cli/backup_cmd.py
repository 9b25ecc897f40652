"""`backup run|list|verify|restore|prune`: the environment's data, stored through restic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shipyard.cli import failures, output
from shipyard.cli.approver import TerminalApprover
from shipyard.cli.options import (
    DEFAULT_CONFIG,
    ConfigOption,
    EnvArgument,
    JsonOption,
    LockWaitOption,
)
from shipyard.errors import ExitCode

backup_app = typer.Typer(
    help="Backups of the environment's databases and shared files (restic; docs/backups.md)."
)

SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="Only this source (repeatable).")
]

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigFile
    from shipyard.execute.reporter import PlainReporter
    from shipyard.protocol.backup import BackupRecord


def register(app: typer.Typer) -> None:
    from shipyard.cli.backup_schedule_cmd import schedule_app

    backup_app.add_typer(schedule_app, name="schedule")
    app.add_typer(backup_app, name="backup")


def _load(config: Path) -> ConfigFile:
    """The configuration, or the command ends with its located error (exit 2)."""
    from shipyard.config.loader import ConfigFile

    return failures.guard(lambda: ConfigFile.load(config))


def _quiet() -> PlainReporter:
    from shipyard.execute.reporter import PlainReporter

    return PlainReporter(stream=sys.stderr)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def verified(record: BackupRecord) -> str:
    if record.verify_ok is None:
        return "never verified"
    result = "verified" if record.verify_ok else "VERIFY FAILED"
    return f"{result} {output.when(record.verified_at)}"


def _table(records: list[BackupRecord], title: str) -> None:
    output.table(
        title,
        ["snapshot", "taken", "source", "reason", "size", "took", "verified"],
        [
            [
                r.snapshot_id,
                output.when(r.started_at),
                f"{r.source} ({r.kind})",
                r.reason + (f" {r.deployment_id}" if r.deployment_id else ""),
                _size(r.size_bytes) if r.size_bytes else "?",
                f"{r.duration:.1f}s" if r.duration else "?",
                verified(r),
            ]
            for r in records
        ],
    )


async def _alerting_failure(
    loaded: ConfigFile, env_name: str, sources: list[str]
) -> list[BackupRecord]:
    """`backup.run`; a failure sends its alert (see cli/failure_alerts.py) and is raised.
    A mistake in the command or the configuration (an unknown environment or source) is
    the user's to see at once, not an alert."""
    from shipyard.cli.failure_alerts import backup_failed
    from shipyard.config.errors import ConfigError
    from shipyard.errors import ShipyardError, UsageError
    from shipyard.execute import backup

    try:
        return await backup.run(loaded, env_name, _quiet(), sources)
    except (ConfigError, UsageError):
        raise
    except ShipyardError as exc:
        backup_failed(loaded, env_name, sources, exc)
        raise


@backup_app.command("run")
def run_command(
    env_name: EnvArgument,
    source: SourceOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Back up every source now (or only --source NAME).

    With `alerts:` configured, a failure also sends a BACKUP FAILED alert to its channels.
    """
    from shipyard.protocol.codec import encode

    loaded = _load(config)
    taken = failures.run(_alerting_failure(loaded, env_name, source or []))
    if json_output:
        output.print_json(encode(taken))
        return
    for r in taken:
        output.console.print(
            f"{r.source}: snapshot {r.snapshot_id}, {_size(r.size_bytes)} "
            f"({_size(r.added_bytes)} new in the repository) in {r.duration:.1f}s",
            markup=False,
        )


@backup_app.command("list")
def list_command(
    env_name: EnvArgument,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Snapshots in the repository, newest first: when, source, size, verified or not."""
    from shipyard.execute import backup
    from shipyard.protocol.codec import encode

    loaded = _load(config)
    records = failures.run(backup.list_backups(loaded, env_name, _quiet()))
    if json_output:
        output.print_json(encode(records))
    elif not records:
        output.console.print(f"{env_name} has no backups yet", markup=False)
    else:
        _table(records, f"backups of {env_name}")


@backup_app.command("verify")
def verify_command(
    env_name: EnvArgument,
    snapshot: Annotated[
        str | None, typer.Argument(help="Snapshot id; default: the newest of each source.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Restore into a scratch database or directory, run the checks, record the result.

    Also runs `restic check` on the repository. Exits 1 if anything failed.
    """
    from shipyard.execute import backup
    from shipyard.protocol.codec import encode

    loaded = _load(config)
    results = failures.run(backup.verify(loaded, env_name, _quiet(), snapshot))
    if json_output:
        output.print_json(encode(results))
    else:
        for r in results:
            mark = "ok" if r.ok else "FAILED"
            output.console.print(
                f"{r.source} {r.snapshot_id}: {mark} in {r.seconds:.1f}s: {r.detail}",
                markup=False,
            )
    if not all(r.ok for r in results):
        raise typer.Exit(ExitCode.FAILED)


@backup_app.command("restore")
def restore_command(
    env_name: EnvArgument,
    snapshot: Annotated[str, typer.Argument(help="Snapshot id (see `backup list`).")],
    source: Annotated[
        str | None, typer.Option(help="The snapshot's source (checked, if given).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    lock_wait: LockWaitOption = 0.0,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Replace a source's live data with SNAPSHOT (asks first on a terminal; --yes otherwise).

    PostgreSQL: pg_restore --clean in one transaction (the dump read from the host's
    local copy when backup.local_copy is on, hashed as it is read and committed only if
    its sha256 is the one recorded at backup time; else streamed out of restic); SQLite:
    the backup API into the live file; a directory: swapped in whole. Holds the
    environment's lock.
    """
    from shipyard.execute import backup

    loaded = _load(config)
    done = failures.run(
        backup.restore(
            loaded,
            env_name,
            _quiet(),
            snapshot,
            source=source,
            approver=TerminalApprover(),
            yes=yes,
            lock_wait=lock_wait,
        )
    )
    why = f" ({done.why})" if done.why else ""
    output.console.print(
        f"restored {done.source} from snapshot {done.snapshot_id} in {done.seconds:.1f}s, "
        f"read from {done.read_from}{why}",
        markup=False,
    )


@backup_app.command("prune")
def prune_command(
    env_name: EnvArgument,
    config: ConfigOption = DEFAULT_CONFIG,
    json_output: JsonOption = False,
) -> None:
    """Apply `backup.retention` (restic forget --prune, per source)."""
    from shipyard.execute import backup
    from shipyard.protocol.codec import encode

    loaded = _load(config)
    result = failures.run(backup.prune(loaded, env_name, _quiet()))
    if json_output:
        output.print_json(encode(result))
        return
    output.console.print(
        f"kept {len(result.kept)} snapshot(s); removed {len(result.removed)}"
        + (f": {', '.join(result.removed)}" if result.removed else ""),
        markup=False,
    )
