"""Backup alerts: a source with no backup within its schedule (the heartbeat of the
backup schedule) becomes a BACKUP MISSING alert through `serve.alerts`, the same
formatter and channels as every other alert.

THE CALL POINT for the serve scheduler: after reading the freshness of an environment's
backups (`shipyard.execute.backup.freshness`, what `status` shows), call
`send_backup_alerts(config, env_name, freshness, expected_within)`. It alerts only for
overdue sources; keeping it to once per incident is the scheduler's, as for checks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.plan.backup import SourceFreshness
from shipyard.serve.alerts import Alert, AlertKind, Delivery, send

if TYPE_CHECKING:
    from shipyard.config.shipyard_config import ShipyardConfig
    from shipyard.serve.store import Store


def backup_alerts(
    env_name: str,
    freshness: Sequence[SourceFreshness],
    expected_within: float,
    now: float | None = None,
) -> list[Alert]:
    """One alert per overdue source: what, since when it is overdue, what to do."""
    at = time.time() if now is None else now
    alerts = []
    for source in freshness:
        if not source.stale:
            continue
        if source.last_at is None:
            what, since = f"backup source {source.source} has never been backed up", at
        else:
            what = f"backup source {source.source} missed its scheduled backup"
            since = source.last_at + expected_within
        alerts.append(
            Alert(
                kind=AlertKind.BACKUP_MISSING,
                env=env_name,
                what=what,
                where=f"{env_name}: primary host",
                since=min(since, at),
                evidence=[
                    source.describe(),
                    f"expected a backup at least every {expected_within / 3600:.1f} h",
                    f"run `shipyard backup run {env_name}`; on the primary: `systemctl status "
                    "'shipyard-*-backup.service'` and its journal",
                ],
                at=at,
            )
        )
    return alerts


async def send_backup_alerts(
    config: ShipyardConfig,
    env_name: str,
    freshness: Sequence[SourceFreshness],
    expected_within: float,
    store: Store | None = None,
) -> list[Delivery]:
    """Send every overdue source's alert to the configured channels."""
    return [
        await send(config, alert, store)
        for alert in backup_alerts(env_name, freshness, expected_within)
    ]
