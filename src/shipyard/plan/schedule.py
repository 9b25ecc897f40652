"""Backup schedules, decided: the systemd timer units that run backups and verifies on
the primary, what is due now (for `shipyard serve`'s scheduler), how late a backup may
be before `status` (and alerts) call it overdue, and the RPO a schedule gives.

Everything here is text or arithmetic; `execute/backup_schedule.py` installs the units.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from shipyard.config.backup import Backup
from shipyard.config.backup_schedule import BackupSchedule
from shipyard.protocol.backup import BackupRecord

JOBS = ("backup", "verify")


def grace(every: float) -> float:
    """How late a scheduled backup may finish before it counts as missed: a twelfth of
    the interval, between 10 minutes and 2 hours (a daily backup: 2 h)."""
    return max(600.0, min(7200.0, every / 12))


def expected_within(backup: Backup) -> float:
    """Seconds the newest backup of a source may be old before it is overdue: the
    schedule's interval plus its grace, or `max_age` if that is set lower (or there is
    no schedule). The defaults agree: daily + 2 h = max_age's 26 h."""
    if not backup.schedule.enabled:
        return backup.max_age
    return min(backup.max_age, backup.schedule.every + grace(backup.schedule.every))


def rpo(schedule: BackupSchedule, backup_seconds: float) -> float:
    """The worst-case data loss: a failure just before a backup finishes loses the
    interval since the last one plus that backup's own duration."""
    return schedule.every + backup_seconds


# what is due (shipyard serve) ---------------------------------------------------


@dataclass(frozen=True)
class Due:
    job: str  # backup | verify
    overdue_by: float  # seconds past when it was due (0: due now)


def last_runs(records: Iterable[BackupRecord]) -> dict[str, float | None]:
    """When each job last ran, from the backup records: the newest backup's start and
    the newest verify (passed or failed)."""
    records = list(records)
    backups = [r.started_at for r in records]
    verifies = [r.verified_at for r in records if r.verified_at is not None]
    return {
        "backup": max(backups) if backups else None,
        "verify": max(verifies) if verifies else None,
    }


def due(schedule: BackupSchedule, last: Mapping[str, float | None], now: float) -> list[Due]:
    """The jobs to run now: never run, or their interval has passed since the last run."""
    if not schedule.enabled:
        return []
    every = {"backup": schedule.every, "verify": schedule.check_every}
    result = []
    for job in JOBS:
        ran = last.get(job)
        if ran is None:
            result.append(Due(job, 0.0))
        elif now - ran >= every[job]:
            result.append(Due(job, round(now - ran - every[job], 3)))
    return result


# systemd timers ------------------------------------------------------------------

SYSTEM_UNITS = "/etc/systemd/system"
USER_UNITS = ".config/systemd/user"  # under the deploy user's home
TIMERS_WANTS = "timers.target.wants"


@dataclass(frozen=True)
class UnitTarget:
    """Where the units go on the host and which systemd manager runs them: the system's
    (`systemctl`) when Shipyard runs there as root, else the user's own
    (`systemctl --user`, kept running without a login by `loginctl enable-linger`)."""

    directory: str
    user: bool

    @property
    def systemctl(self) -> list[str]:
        return ["systemctl", "--user"] if self.user else ["systemctl"]

    def wants_link(self, timer: str) -> str:
        """The link `systemctl enable` makes for a timer (`WantedBy=timers.target`)."""
        return str(PurePosixPath(self.directory) / TIMERS_WANTS / timer)


def unit_target(unit_dir: str | None, *, root: bool, home: str) -> UnitTarget:
    """`backup.schedule.unit_dir` as the host resolves it; unset: by who runs there."""
    default = SYSTEM_UNITS if root else str(PurePosixPath(home) / USER_UNITS)
    return UnitTarget(unit_dir or default, user=not root)


def unit_name(app: str, env: str, job: str, suffix: str) -> str:
    return f"shipyard-{app}-{env}-{job}.{suffix}"


def timer_units(
    app: str,
    env: str,
    schedule: BackupSchedule,
    shipyard_command: str,
    request_files: Mapping[str, str],
) -> dict[str, str]:
    """The service and timer units of each job, by file name. Each service runs the
    job's host operation with its request (secrets included) read from a 0600 file, so
    no secret is in a unit, a command line or the journal. A timer fires `every`
    seconds after the job last ran and 15 minutes after boot; `Persistent` is not
    needed: a missed run is caught up at boot."""
    units: dict[str, str] = {}
    every = {"backup": schedule.every, "verify": schedule.check_every}
    operation = {"backup": "backup-run", "verify": "backup-verify"}
    for job in JOBS:
        service = unit_name(app, env, job, "service")
        command = f"{shipyard_command} host {operation[job]}"
        units[service] = (
            "[Unit]\n"
            f"Description=Shipyard {job} of {app} {env} (scheduled)\n"
            "After=network-online.target\n"
            "Wants=network-online.target\n"
            "\n"
            "[Service]\n"
            "Type=oneshot\n"
            f"ExecStart={_exec(command)}\n"
            f"StandardInput=file:{request_files[job]}\n"
            "StandardOutput=journal\n"
            "Nice=10\n"
            "IOSchedulingClass=idle\n"
            f"TimeoutStartSec={int(every[job])}\n"
        )
        units[unit_name(app, env, job, "timer")] = (
            "[Unit]\n"
            f"Description=Shipyard {job} of {app} {env} every {_human(every[job])}\n"
            "\n"
            "[Timer]\n"
            "OnBootSec=15min\n"
            f"OnUnitActiveSec={int(every[job])}s\n"
            f"RandomizedDelaySec={int(min(every[job] / 20, 900))}s\n"
            "AccuracySec=1min\n"
            f"Unit={service}\n"
            "\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
        )
    return units


def _exec(command: str) -> str:
    """An ExecStart line: systemd splits words like a shell; `%` is its specifier."""
    return " ".join(shlex.quote(word) for word in shlex.split(command)).replace("%", "%%")


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
