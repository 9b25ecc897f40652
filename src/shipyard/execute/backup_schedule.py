"""The backup schedule on the primary: systemd timers that run `backup-run` and
`backup-verify` there on their own (`shipyard backup schedule install ENV`; `shipyard
setup` calls `install_schedule`), and the check that raises an alert when a source's
newest backup is older than its schedule allows.

The scheduled jobs run the host operations directly, with the very requests `backup run`
and `backup verify` send (reason `schedule`), read from a 0600 file next to the
environment: the secrets they need rest on the host, as the app's own env file does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

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
    )
    verify = BackupVerifyRequest(
        repository=repository,
        sources=p.sources(),
        snapshot_id=None,
        checks=backup_plan.checks(p.backup),
        read_data_subset=p.backup.schedule.check_subset,
        timeout=p.backup.timeout,
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
    session: Session, p: Plan, *, enable: bool = True
) -> ScheduleInstallReply:
    """Write the units and the jobs' requests on the primary; enable the timers if
    systemd runs there. `session` is open on the primary."""
    request = ScheduleInstallRequest(
        units=units(p),
        requests=job_requests(p),
        unit_dir=p.backup.schedule.unit_dir,
        enable=enable,
    )
    return await session.primary.call(BACKUP_SCHEDULE_INSTALL, request)


# alerts ---------------------------------------------------------------------------

Alert = Callable[[str, str], None]  # (title, text)


def overdue_alerts(
    env_name: str, freshness: list[backup_plan.SourceFreshness]
) -> list[tuple[str, str]]:
    """An alert per source with no backup within its schedule: what and what to do."""
    alerts = []
    for source in freshness:
        if not source.stale:
            continue
        what = "has never been backed up" if source.age is None else "missed its backup"
        alerts.append(
            (
                f"backup overdue: {env_name} {source.source}",
                f"{source.source} {what} ({source.describe()}); run `shipyard backup run "
                f"{env_name}` and see `journalctl -u shipyard-*-backup.service` on the primary",
            )
        )
    return alerts


def send_backup_alerts(
    env_name: str, freshness: list[backup_plan.SourceFreshness], alert: Alert | None
) -> list[tuple[str, str]]:
    """THE CALL POINT for serve/alerts.py (branch serve-checks): `shipyard serve` calls
    this after each freshness check with its alert sender. Until that is merged there is
    no sender: `status` fails loudly instead (exit 1 with --check)."""
    alerts = overdue_alerts(env_name, freshness)
    if alert is not None:
        for title, text in alerts:
            alert(title, text)
    return alerts
