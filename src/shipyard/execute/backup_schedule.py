"""The backup schedule on the primary: systemd timers that run `backup-run` and
`backup-verify` there on their own (`shipyard backup schedule install ENV`; `shipyard
setup` calls `install_schedule`). The alert for a missed backup: serve/backup_alerts.py.

The scheduled jobs run the host operations directly, with the very requests `backup run`
and `backup verify` send (reason `schedule`), read from a 0600 file next to the
environment: the secrets they need rest on the host, as the app's own env file does.
They do nothing (and say so) until the environment's first deploy: timers installed by
setup fire at once, and a backup of a new server's empty data must not become the
newest snapshot.
"""

from __future__ import annotations

import json
import sys

from shipyard.config.model import Environment
from shipyard.execute.backup import Plan
from shipyard.execute.session import Session
from shipyard.plan import backup as backup_plan
from shipyard.plan import requests
from shipyard.plan import schedule as plan
from shipyard.protocol.backup import BackupRunRequest, BackupVerifyRequest
from shipyard.protocol.backup_schedule import (
    BACKUP_SCHEDULE_INSTALL,
    ScheduleInstallReply,
    ScheduleInstallRequest,
)
from shipyard.protocol.codec import encode


def job_requests(p: Plan) -> dict[str, str]:
    """Each job's request as its service reads it: the scope and the request's fields
    in one JSON object (what `shipyard host <op>` takes on stdin)."""
    env, host = p.env, p.env.primary
    scope = {"root": env.root_for(host), "app": env.app, "env": env.name}
    repository = backup_plan.repository(p.backup, p.secrets)
    run = BackupRunRequest(
        repository=repository,
        sources=p.sources(),
        reason="schedule",
        deployment_id=None,
        timeout=p.backup.timeout,
        only_if_deployed=True,
    )
    verify = BackupVerifyRequest(
        repository=repository,
        sources=p.sources(),
        snapshot_id=None,
        checks=backup_plan.checks(p.backup),
        read_data_subset=p.backup.schedule.check_subset,
        timeout=p.backup.timeout,
        only_if_deployed=True,
    )
    return {
        "backup": json.dumps(scope | encode(run)),
        "verify": json.dumps(scope | encode(verify)),
    }


def units(p: Plan) -> dict[str, str]:
    env = p.env
    layout = requests.layout(env, env.primary)
    return plan.timer_units(
        env.app,
        env.name,
        p.backup.schedule,
        _command(env),
        {job: str(layout.schedule_request(job)) for job in plan.JOBS},
    )


def _command(env: Environment) -> str:
    """How the host runs Shipyard: this installation for a local host."""
    if env.primary.is_local:
        return f"{sys.executable} -m shipyard"
    return env.shipyard_command


async def install_schedule(
    session: Session, p: Plan, *, enable: bool = True, check: bool = False
) -> ScheduleInstallReply:
    """Write the units and the jobs' requests on the primary (what differs only); enable
    the timers; with `check`, only say what would change. `session` is open on the
    primary."""
    request = ScheduleInstallRequest(
        units=units(p),
        requests=job_requests(p),
        unit_dir=p.backup.schedule.unit_dir,
        enable=enable,
        check=check,
    )
    return await session.primary.call(BACKUP_SCHEDULE_INSTALL, request)
