"""BACKUP-SCHEDULE-INSTALL. Request and reply: `shipyard.protocol.backup_schedule`.

Unit file names and the jobs are checked here too: a request names files, and nothing
it names may land outside `unit_dir` or the environment's schedule directory.

Which systemd runs the timers is decided by who runs this (`plan.schedule.unit_target`):
root writes system units and uses `systemctl`; the deploy user of a host that `shipyard
setup` made writes user units and uses `systemctl --user` (its manager runs without a
login because setup enabled lingering). Only what differs is written, so a second
install changes nothing and says so (`changed` is empty); `check` writes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_symlink, atomic_write
from shipyard.host.context import Context
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.plan.schedule import UnitTarget, unit_target
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
    target = unit_target(request.unit_dir, root=os.geteuid() == 0, home=str(Path.home()))
    manager = "user" if target.user else "system"
    unit_dir = Path(target.directory)
    changed: list[str] = []
    request_files = []
    for job, text in sorted(request.requests.items()):
        path = layout.schedule_request(job)
        request_files.append(str(path))
        if _differs(path, text, 0o600):
            changed.append(str(path))
            if not request.check:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                atomic_write(path, text, mode=0o600)
    unit_files = []
    for name, text in sorted(request.units.items()):
        path = unit_dir / name
        unit_files.append(str(path))
        if _differs(path, text, 0o644):
            changed.append(str(path))
            if not request.check:
                unit_dir.mkdir(parents=True, exist_ok=True)
                atomic_write(path, text, mode=0o644)
    timers = sorted(n for n in request.units if n.endswith(".timer"))
    if not request.enable:
        return proto.ScheduleInstallReply(
            unit_files, request_files, [], "not enabled (asked)", changed, manager
        )
    booted = SYSTEMD_RUNNING.is_dir() and shutil.which("systemctl") is not None
    if not booted:
        changed += _link_offline(target, timers, check=request.check)
        note = (
            "systemd is not running here: units written and enabled for the next boot "
            "(links in timers.target.wants), not started"
        )
        return proto.ScheduleInstallReply(unit_files, request_files, [], note, changed, manager)
    environment = _systemctl_env(target)
    idle = [t for t in timers if not _enabled_and_active(target, t, environment)]
    changed += [target.wants_link(t) for t in idle]
    if request.check or not changed:
        return proto.ScheduleInstallReply(unit_files, request_files, [], "", changed, manager)
    for argv in (
        [*target.systemctl, "daemon-reload"],
        [*target.systemctl, "enable", "--now", *timers],
    ):
        _systemctl(argv, environment, target)
    return proto.ScheduleInstallReply(unit_files, request_files, timers, "", changed, manager)


def _differs(path: Path, text: str, mode: int) -> bool:
    try:
        if stat.S_IMODE(path.stat().st_mode) != mode:
            return True
        return path.read_text(encoding="utf-8") != text
    except (OSError, UnicodeDecodeError):
        return True


def _link_offline(target: UnitTarget, timers: list[str], *, check: bool) -> list[str]:
    """Enable without a running systemd: the links `systemctl enable` would make."""
    made = []
    for timer in timers:
        link, unit = Path(target.wants_link(timer)), Path(target.directory) / timer
        if link.is_symlink() and Path(os.readlink(link)) == unit:
            continue
        made.append(str(link))
        if not check:
            link.parent.mkdir(parents=True, exist_ok=True)
            atomic_symlink(unit, link)
    return made


def _systemctl_env(target: UnitTarget) -> dict[str, str]:
    """`systemctl --user` finds the user's manager through XDG_RUNTIME_DIR, which a
    non-login SSH command may lack."""
    environment = dict(os.environ)
    if target.user:
        environment.setdefault("XDG_RUNTIME_DIR", f"/run/user/{os.geteuid()}")
    return environment


def _enabled_and_active(target: UnitTarget, timer: str, environment: dict[str, str]) -> bool:
    for verb in ("is-enabled", "is-active"):
        done = subprocess.run(
            [*target.systemctl, verb, "--quiet", timer],
            capture_output=True, text=True, timeout=60, check=False, env=environment,
        )  # fmt: skip
        if done.returncode != 0:
            return False
    return True


def _systemctl(argv: list[str], environment: dict[str, str], target: UnitTarget) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, env=environment
    )
    if done.returncode == 0:
        return
    hint = f"check `journalctl -xe` on the host; the units are in {target.directory}"
    if target.user:
        hint = (
            "the deploy user's systemd must be running: `loginctl enable-linger USER` as "
            "root (`shipyard setup` does); " + hint
        )
    raise HostOpError(
        f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()[-400:]}", hint=hint
    )


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.BACKUP_SCHEDULE_INSTALL, backup_schedule_install),
]
