"""Backups of an environment, from the operator's side: run, list, verify, restore,
prune; freshness for `status`. The backup before a migration: `premigration`.

Backups run on the primary host (the databases are reached from there, shared/ lives
there). A restore changes the environment, so it holds the deploy lock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard.config.backup import Backup
from shipyard.config.loader import ConfigFile, resolve_secrets
from shipyard.config.model import Environment
from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute import locking
from shipyard.execute.approval import Approver
from shipyard.execute.identity import new_deployment_id
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import Session
from shipyard.plan import backup as plan
from shipyard.plan import schedule
from shipyard.protocol.backup import (
    BACKUP_LIST,
    BACKUP_PRUNE,
    BACKUP_RESTORE,
    BACKUP_RUN,
    BACKUP_VERIFY,
    BackupListRequest,
    BackupPruneReply,
    BackupPruneRequest,
    BackupRecord,
    BackupRestoreReply,
    BackupRestoreRequest,
    BackupRunRequest,
    BackupVerifyRequest,
    SourceSpec,
    VerifyResult,
)

MARGIN = 120.0  # on top of backup.timeout, for the operator's wait

READ_DATA_SUBSET = "5%"  # of the pack files `backup verify` reads in full


class BackupFailed(ShipyardError):
    """A backup, verify or restore did not succeed."""

    exit_code = ExitCode.FAILED


class RestoreRefused(ShipyardError):
    """A restore was not confirmed (no terminal and no --yes, or the person said no)."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, hint: str = "", evidence: Sequence[str] = ()) -> None:
        super().__init__(message, hint)
        self.evidence = list(evidence)

    def details(self) -> list[str]:
        return self.evidence


@dataclass(frozen=True)
class Plan:
    """One environment's backup configuration with its secrets resolved."""

    env: Environment
    backup: Backup
    secrets: dict[str, str]

    @classmethod
    def load(cls, config: ConfigFile, env_name: str) -> Plan:
        env = config.environment(env_name)
        if env.backup is None:
            raise ShipyardError(
                f"environment {env_name} has no backups configured",
                hint="add `backup:` to it in shipyard.yml (see docs/backups.md)",
            )
        return cls(env, env.backup, resolve_secrets(env, config.path))

    def session(self, reporter: Reporter) -> Session:
        return Session(self.env, reporter, secrets=list(self.secrets.values()))

    def sources(self, names: Sequence[str] = ()) -> list[SourceSpec]:
        try:
            return plan.sources(self.backup, self.secrets, names)
        except ValueError as exc:
            raise ShipyardError(str(exc), hint="see `backup.sources` in shipyard.yml") from None


async def _primary(plan_: Plan, reporter: Reporter) -> Session:
    session = plan_.session(reporter)
    await session.open(hosts=[session.primary])
    return session


async def run(
    config: ConfigFile, env_name: str, reporter: Reporter, sources: Sequence[str] = ()
) -> list[BackupRecord]:
    """`backup run`: back up the sources now (all of them unless named)."""
    p = Plan.load(config, env_name)
    session = await _primary(p, reporter)
    try:
        return await take(session, p, p.sources(sources), reason="manual", deployment_id=None)
    finally:
        await session.close()


async def take(
    session: Session,
    p: Plan,
    sources: list[SourceSpec],
    *,
    reason: str,
    deployment_id: str | None,
    skip_missing: bool = False,
) -> list[BackupRecord]:
    request = BackupRunRequest(
        repository=plan.repository(p.backup, p.secrets),
        sources=sources,
        reason=reason,
        deployment_id=deployment_id,
        timeout=p.backup.timeout,
        skip_missing=skip_missing,
    )
    reply = await session.primary.call(BACKUP_RUN, request, timeout=p.backup.timeout + MARGIN)
    for name in reply.skipped:
        session.reporter.info(f"backup: {name} does not exist yet; nothing to back up")
    return reply.backups


async def list_backups(
    config: ConfigFile, env_name: str, reporter: Reporter, *, repository: bool = True
) -> list[BackupRecord]:
    """`backup list`: what restic has of this environment, with what the host recorded."""
    p = Plan.load(config, env_name)
    session = await _primary(p, reporter)
    try:
        spec = plan.repository(p.backup, p.secrets) if repository else None
        reply = await session.primary.call(BACKUP_LIST, BackupListRequest(repository=spec))
        return reply.backups
    finally:
        await session.close()


async def verify(
    config: ConfigFile, env_name: str, reporter: Reporter, snapshot: str | None
) -> list[VerifyResult]:
    """`backup verify`: restore into scratch space, run the checks, record the result."""
    p = Plan.load(config, env_name)
    session = await _primary(p, reporter)
    try:
        request = BackupVerifyRequest(
            repository=plan.repository(p.backup, p.secrets),
            sources=p.sources(),
            snapshot_id=snapshot,
            checks=plan.checks(p.backup),
            read_data_subset=READ_DATA_SUBSET,
            timeout=p.backup.timeout,
        )
        reply = await session.primary.call(
            BACKUP_VERIFY, request, timeout=p.backup.timeout * 2 + MARGIN
        )
        return reply.results
    finally:
        await session.close()


async def restore(
    config: ConfigFile,
    env_name: str,
    reporter: Reporter,
    snapshot: str,
    *,
    source: str | None,
    approver: Approver,
    yes: bool,
    lock_wait: float = 0.0,
) -> BackupRestoreReply:
    """`backup restore`: put a snapshot back into its live source, under the lock,
    once a person confirmed it (or --yes)."""
    p = Plan.load(config, env_name)
    session = p.session(reporter)
    restore_id = "restore-" + new_deployment_id()
    async with locking.locked_session(
        session,
        command="backup restore",
        reason=f"restore snapshot {snapshot}",
        deployment_id=restore_id,
        lock_wait=lock_wait,
    ):
        return await restore_locked(session, p, snapshot, source=source, approver=approver, yes=yes)


async def restore_locked(
    session: Session,
    p: Plan,
    snapshot: str,
    *,
    source: str | None,
    approver: Approver,
    yes: bool,
) -> BackupRestoreReply:
    found = await _find(session, p, snapshot)
    if found is None:
        raise BackupFailed(
            f"no snapshot {snapshot} of {p.env.name} in its repository",
            hint=f"see `shipyard backup list {p.env.name}`",
        )
    if source is not None and source != found.source:
        raise BackupFailed(f"snapshot {snapshot} is of {found.source}, not of {source}")
    (spec,) = p.sources([found.source])
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(found.started_at))
    question = (
        f"Replace the live data of {found.source} ({found.kind}) in {p.env.name} with "
        f"snapshot {snapshot} taken {when}? Everything written since is lost."
    )
    confirm(question, approver, yes)
    request = BackupRestoreRequest(
        repository=plan.repository(p.backup, p.secrets),
        source=spec,
        snapshot_id=snapshot,
        timeout=p.backup.timeout,
    )
    return await session.primary.call(BACKUP_RESTORE, request, timeout=p.backup.timeout + MARGIN)


async def _find(session: Session, p: Plan, snapshot: str) -> BackupRecord | None:
    """The snapshot's record on the primary; else what the repository says of it (a
    snapshot made elsewhere). The host checks it against the repository again."""
    for repository in (None, plan.repository(p.backup, p.secrets)):
        listing = await session.primary.call(BACKUP_LIST, BackupListRequest(repository))
        found = next((b for b in listing.backups if b.snapshot_id == snapshot), None)
        if found is not None:
            return found
    return None


def confirm(question: str, approver: Approver, yes: bool, evidence: Sequence[str] = ()) -> None:
    """A restore goes ahead only if the person at the terminal says yes, or --yes."""
    if yes:
        return
    if not approver.interactive:
        raise RestoreRefused(
            "a restore replaces live data and needs a confirmation; nothing was changed",
            hint="run it on a terminal, or pass --yes",
            evidence=evidence,
        )
    if not approver.confirm(question):
        raise RestoreRefused("restore cancelled: nothing was changed")


async def prune(config: ConfigFile, env_name: str, reporter: Reporter) -> BackupPruneReply:
    """`backup prune`: restic forget --prune with the retention, per source."""
    p = Plan.load(config, env_name)
    session = await _primary(p, reporter)
    try:
        request = BackupPruneRequest(
            repository=plan.repository(p.backup, p.secrets),
            sources=[s.name for s in p.backup.sources],
            keep=plan.forget_flags(p.backup.retention),
        )
        return await session.primary.call(BACKUP_PRUNE, request, timeout=p.backup.timeout + MARGIN)
    finally:
        await session.close()


async def freshness(session: Session) -> list[plan.SourceFreshness]:
    """Each source's newest backup and whether it is overdue (for `status`)."""
    env = session.env
    if env.backup is None:
        return []
    listing = await session.primary.call(BACKUP_LIST, BackupListRequest(repository=None))
    names = [s.name for s in env.backup.sources]
    within = schedule.expected_within(env.backup)
    return plan.freshness(listing.backups, names, within, time.time())
