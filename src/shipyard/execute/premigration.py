"""The backup before a migration, and what a rollback says about it.

A deploy whose release command runs backs up the database sources first (a phase of
its own, on the primary) and records the snapshots in its deployment record. A rollback
of such a deployment names them, with what was written since, and restores them only
when asked (`--restore-data`) and confirmed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shipyard.execute.approval import Approver
from shipyard.execute.backup import MARGIN, Plan, confirm, take
from shipyard.execute.session import Session
from shipyard.plan import backup as plan
from shipyard.protocol.backup import (
    BACKUP_RESTORE,
    BACKUP_STATS,
    BackupRecord,
    BackupRestoreReply,
    BackupRestoreRequest,
    BackupStatsRequest,
)
from shipyard.protocol.codec import decode
from shipyard.protocol.records import HISTORY, HistoryRequest

NOTICE_HISTORY = 100  # deployments searched for the one a rollback leaves


async def before_migration(
    session: Session, secrets: dict[str, str], deployment_id: str
) -> list[BackupRecord]:
    """A backup of the database sources before a release command runs (none when the
    environment has no databases configured, or turned it off)."""
    env = session.env
    backup = env.backup
    if backup is None or not backup.before_migrations or not backup.database_sources():
        return []
    p = Plan(env, backup, secrets)
    sources = p.sources(backup.database_sources())
    replies = await session.each(
        "backup",
        lambda _: take(
            session,
            p,
            sources,
            reason="pre-migration",
            deployment_id=deployment_id,
            skip_missing=True,
        ),
        hosts=[session.primary],
        detail=lambda taken: ", ".join(f"{b.source} {b.snapshot_id}" for b in taken),
    )
    return replies[session.primary.label]


@dataclass(frozen=True)
class PreMigrationNotice:
    """What a rollback says about a deployment's pre-migration backup."""

    deployment_id: str
    backups: list[BackupRecord]
    written: dict[str, plan.WrittenSince]  # postgres sources only

    def lines(self, env_name: str) -> list[str]:
        lines = [
            f"deployment {self.deployment_id} took a pre-migration backup before its "
            "release command:"
        ]
        for record in self.backups:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.started_at))
            line = f"  {record.source}: snapshot {record.snapshot_id} at {when}"
            if record.source in self.written:
                line += f"; written since: {self.written[record.source].describe()}"
            lines.append(line)
        lines.append(
            "  the data was NOT restored. To go back to it (losing what was written since): "
            f"shipyard rollback {env_name} --restore-data"
        )
        return lines


async def pre_migration_notice(
    session: Session, secrets: dict[str, str], release_id: str | None
) -> PreMigrationNotice | None:
    """The pre-migration backups of the newest deployment that brought `release_id`
    (the release a rollback leaves), with what was written since."""
    env = session.env
    if env.backup is None or release_id is None:
        return None
    history = await session.primary.call(HISTORY, HistoryRequest(limit=NOTICE_HISTORY))
    deployment = next(
        (
            d
            for d in history.deployments
            if d.release_id == release_id and d.kind != "rollback" and d.backups
        ),
        None,
    )
    if deployment is None:
        return None
    taken = [decode(BackupRecord, item, "deployment.backups") for item in deployment.backups or []]
    p = Plan(env, env.backup, secrets)
    configured = {s.name for s in env.backup.sources}
    pg = [
        s
        for s in p.sources([b.source for b in taken if b.source in configured])
        if s.kind == "postgres"
    ]
    now = (await session.primary.call(BACKUP_STATS, BackupStatsRequest(sources=pg))).stats
    written = {
        b.source: plan.written_since(b.stats or {}, now[b.source])
        for b in taken
        if b.source in now and b.stats
    }
    return PreMigrationNotice(deployment.id, taken, written)


def confirm_restore(
    notice: PreMigrationNotice, env_name: str, approver: Approver, yes: bool
) -> None:
    """Asked before the rollback starts, so a "no" changes nothing."""
    lines = notice.lines(env_name)[:-1]
    confirm(
        "\n".join(lines) + f"\nRoll back {env_name} and restore its pre-migration backup "
        f"({', '.join(b.source + ' ' + b.snapshot_id for b in notice.backups)})? "
        "Everything written since is lost.",
        approver,
        yes,
        evidence=lines,
    )


async def restore_pre_migration(
    session: Session, secrets: dict[str, str], notice: PreMigrationNotice
) -> list[BackupRestoreReply]:
    env = session.env
    assert env.backup is not None
    p = Plan(env, env.backup, secrets)
    done = []
    for record in notice.backups:
        (spec,) = p.sources([record.source])
        request = BackupRestoreRequest(
            repository=plan.repository(p.backup, p.secrets),
            source=spec,
            snapshot_id=record.snapshot_id,
            timeout=p.backup.timeout,
        )
        done.append(
            await session.primary.call(BACKUP_RESTORE, request, timeout=p.backup.timeout + MARGIN)
        )
    return done
