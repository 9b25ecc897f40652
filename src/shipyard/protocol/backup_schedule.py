"""BACKUP-SCHEDULE-INSTALL: put the systemd units of the backup schedule on the primary
and the requests their services run (with the secrets they need) next to the
environment, readable by the deploy user alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.protocol.op import Op


@dataclass(frozen=True)
class ScheduleInstallRequest:
    """units: file name -> text, written into `unit_dir` (None: the host decides, by
    whether it runs as root: `plan.schedule.unit_target`); requests: job -> the JSON
    request its service reads on stdin, written to `<env>/backups/schedule/<job>.json`
    (0600). With `enable`, and systemd running, reload it and enable the timers; where
    systemd does not run, link them into timers.target.wants (enabled for the next
    boot). With `check`, change nothing and say what would change."""

    units: dict[str, str]
    requests: dict[str, str]
    unit_dir: str | None
    enable: bool
    check: bool = False


@dataclass(frozen=True)
class ScheduleInstallReply:
    unit_files: list[str]
    request_files: list[str]
    enabled: list[str]  # timers enabled and started now
    note: str  # e.g. "systemd is not running here: units written, not started"
    changed: list[str] = field(default_factory=list)  # files and links (would) changed
    manager: str = "system"  # system | user: which systemd runs the timers


BACKUP_SCHEDULE_INSTALL = Op(
    "backup-schedule-install", ScheduleInstallRequest, ScheduleInstallReply
)
