"""BACKUP-SCHEDULE-INSTALL. Request and reply: `shipyard.protocol.backup_schedule`.

Unit file names and the jobs are checked here too: a request names files, and nothing
it names may land outside `unit_dir` or the environment's schedule directory.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.protocol import backup_schedule as proto

UNIT_NAME = re.compile(r"^shipyard-[A-Za-z0-9_.-]+\.(service|timer)$")
JOB = re.compile(r"^[a-z]+$")
SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(): systemd is PID 1


def backup_schedule_install(
    ctx: Context, request: proto.ScheduleInstallRequest
) -> proto.ScheduleInstallReply:
    layout = ctx.layout
    bad = [n for n in request.units if not UNIT_NAME.match(n)]
    bad += [j for j in request.requests if not JOB.match(j)]
    if bad:
        raise HostOpError(f"refusing to write {bad[0]!r}: not a Shipyard unit or job name")
    request_files = []
    for job, text in request.requests.items():
        path = layout.schedule_request(job)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, text, mode=0o600)
        request_files.append(str(path))
    unit_dir = Path(request.unit_dir)
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit_files = []
    for name, text in sorted(request.units.items()):
        atomic_write(unit_dir / name, text, mode=0o644)
        unit_files.append(str(unit_dir / name))
    timers = sorted(n for n in request.units if n.endswith(".timer"))
    if not request.enable:
        return proto.ScheduleInstallReply(unit_files, request_files, [], "not enabled (asked)")
    if not SYSTEMD_RUNNING.is_dir() or shutil.which("systemctl") is None:
        return proto.ScheduleInstallReply(
            unit_files,
            request_files,
            [],
            "systemd is not running here: units written, not enabled "
            "(run the jobs from `shipyard serve` or cron instead)",
        )
    for argv in (["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", *timers]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise HostOpError(
                f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-400:]}",
                hint="check `journalctl -xe` on the host; the units are in " + str(unit_dir),
            )
    return proto.ScheduleInstallReply(unit_files, request_files, timers, "")


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.BACKUP_SCHEDULE_INSTALL, backup_schedule_install),
]
