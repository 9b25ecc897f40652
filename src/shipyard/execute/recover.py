"""`shipyard recover ENV --to HOST`: the environment on a new server, from what survives
the old one: the commit (the operator's repository), the release's digest (the old
hosts' records, or the tags of the backups in the off-site repository) and the data
(the newest snapshot of each source that passes `verify` on the new server).

The steps, each timed (their shares are the recovery time's make-up):

    setup    `shipyard setup` on the new host when the environment is one that setup
             makes (plan/setup_plan.required_settings); then, either way, the host
             must answer as a Shipyard host of this version. A host that already
             answers and serves the environment is refused before this (no --force)
    release  find the release and its artifact: rebuilt from the commit, checked
             against the recorded sha256
    verify   the newest snapshot of each source restored into scratch and checked there
    restore  those snapshots into the live sources (under the environment's lock)
    deploy   the release, through the deploy phases (boot, check, switch, verify)

Called through `pipeline.recover`; drills call the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.loader import ConfigFile, resolve_secrets
from shipyard.config.model import Environment
from shipyard.errors import ExitCode, ShipyardError
from shipyard.execute import locking
from shipyard.execute.backup import MARGIN, READ_DATA_SUBSET, BackupFailed
from shipyard.execute.deploy import Shipment, deploy_locked
from shipyard.execute.hostclient import HostFactory
from shipyard.execute.identity import actor, new_deployment_id
from shipyard.execute.release_runtime import choose_runtime
from shipyard.execute.reporter import Reporter, SilentReporter
from shipyard.execute.session import Session
from shipyard.plan import backup as backup_plan
from shipyard.plan import recover as plan
from shipyard.protocol.backup import (
    BACKUP_LIST,
    BACKUP_RESTORE,
    BACKUP_VERIFY,
    BackupListRequest,
    BackupRecord,
    BackupRestoreRequest,
    BackupVerifyRequest,
)
from shipyard.protocol.drills import DRILL_RECORD, DrillRecord
from shipyard.protocol.op import Empty
from shipyard.protocol.records import RELEASES
from shipyard.release.artifact import Artifact, ArtifactError, artifact_cache, build_artifact

OLD_HOST_TIMEOUT = 15.0  # seconds to reach a surviving old host before giving up on it
MAX_CANDIDATES = 3  # snapshots per source tried, newest first, until one verifies


class RecoverRefused(ShipyardError):
    """A recovery that would overwrite a serving host, or has nothing to recover from."""

    exit_code = ExitCode.REFUSED


class RecoverFailed(ShipyardError):
    """A recovery step failed; the message says which and what is left on the host."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Restored:
    source: str
    snapshot_id: str
    seconds: float


@dataclass
class RecoverResult:
    env: str
    host: str
    release_id: str
    release_from: str
    deployment_id: str
    restored: list[Restored] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds, in order
    next_step: str = ""

    @property
    def seconds(self) -> float:
        return round(sum(self.steps.values()), 3)


SetupStep = Callable[[Session], Awaitable[None]]


async def check_shipyard_host(session: Session) -> None:
    """The setup step until `shipyard setup` is wired in (`setup_hosts`): the host must
    already be a Shipyard host of this version (its agent answers `hello`)."""
    host = session.env.primary.address
    try:
        await session.open()
    except ShipyardError as exc:
        raise RecoverFailed(
            f"{host} is not ready for {session.env.name}: {exc.message}",
            hint=f"make it a Shipyard host first (`shipyard setup {session.env.name}`, or install "
            f"shipyard {_version()} there), then run the recovery again",
        ) from None
    finally:
        await session.close()


def setup_step(config_dir: Path) -> SetupStep:
    """The default setup step: `shipyard setup` first where the environment is one
    that setup makes (a fresh server then needs nothing by hand), then the check."""

    async def step(session: Session) -> None:
        from shipyard.execute.setup import setup_hosts
        from shipyard.plan.setup_plan import required_settings

        env = session.env
        if not required_settings(env):
            await setup_hosts(
                env, env.hosts, check=False, reporter=session.reporter, config_dir=config_dir
            )
        else:
            session.reporter.info(
                f"{env.name} is not set up for hosts that `shipyard setup` makes "
                "(docs/setup.md): the new host must already be a Shipyard host"
            )
        await check_shipyard_host(session)

    return step


def _version() -> str:
    from shipyard import __version__

    return __version__


async def recover(
    config: ConfigFile,
    env_name: str,
    reporter: Reporter,
    hosts: HostFactory,
    *,
    to: str,
    root: str | None = None,
    listen: str | None = None,
    release: str | None = None,
    force: bool = False,
    lock_wait: float = 0.0,
    setup: SetupStep | None = None,
    drill: bool = False,
    secret_overrides: Mapping[str, str] | None = None,
    deployment_id: str | None = None,
) -> RecoverResult:
    """Recover the environment onto `to` (see the module's docstring); `drill`: a
    rehearsal (its record is the caller's); `secret_overrides`: secret values used
    instead of the configured ones (a drill's scratch database)."""
    working = config.environment(env_name)
    target = plan.target_environment(working, to, root, listen)
    secrets = resolve_secrets(target, config.path) | dict(secret_overrides or {})
    clock = Clock()

    def session_of(env: Environment) -> Session:
        return Session(env, reporter, secrets=list(secrets.values()), hosts=hosts)

    if not force:  # before setup changes anything there
        await _refuse_if_already_serving(
            Session(target, SilentReporter(), secrets=list(secrets.values()), hosts=hosts)
        )
    reporter.info(f"recover {env_name} onto {to}: setup")
    await (setup or setup_step(config.path.parent))(session_of(target))
    clock.lap("setup")

    reporter.info("finding the release")
    records = await _repository_listing(session_of(target), target, secrets)
    choice = await _choose_release(working, to, release, records, reporter, session_of)
    artifact = _artifact(config, choice)
    chosen = choose_runtime(config, target, artifact, reporter)
    env = chosen.env
    clock.lap("release")
    reporter.info(f"release {choice.release_id} (from {choice.source})")

    deployment_id = deployment_id or new_deployment_id()
    session = session_of(env)
    result = RecoverResult(
        env=env_name,
        host=to,
        release_id=choice.release_id,
        release_from=choice.source,
        deployment_id=deployment_id,
    )
    async with locking.locked_session(
        session,
        command="recover",
        reason=f"recover onto {to}",
        deployment_id=deployment_id,
        lock_wait=lock_wait,
    ):
        await _refuse_if_serving(session, force)
        if env.backup is not None:
            chosen_snapshots = await _verified(session, env, secrets, records, reporter)
            clock.lap("verify")
            result.restored = await _restore(session, env, secrets, chosen_snapshots, reporter)
            clock.lap("restore")
        shipment = Shipment(
            artifact=artifact,
            kind="deploy",
            trigger="drill-recover" if drill else "recover",
            message=f"recover onto {to} (release from {choice.source})",
            observe_window=0.0,
            promoted_from=None,
            gates=None,
            build_seconds=0.0,
            app_dir=config.path.parent,
            runtime_spec=chosen.spec_json,
            runtime_record=chosen.record,
        )
        reporter.info("deploying")
        await deploy_locked(session, shipment, env.env | secrets, deployment_id)
        clock.lap("deploy")
        result.steps = clock.steps
        if not drill:  # a drill's record goes to the drilled environment's primary
            await record(
                session,
                "recover",
                False,
                clock.started_at,
                clock.steps,
                ok=True,
                detail=summary(result),
            )
    result.next_step = plan.one_step_left(working, env)
    return result


def summary(result: RecoverResult) -> str:
    restored = ", ".join(f"{r.source} {r.snapshot_id}" for r in result.restored) or "no data"
    return f"release {result.release_id} on {result.host}; restored {restored}"


async def record(
    session: Session,
    kind: str,
    drill: bool,
    started_at: float,
    steps: Mapping[str, float],
    *,
    ok: bool,
    detail: str,
    seconds: float | None = None,
) -> DrillRecord:
    """Keep the measured time in the primary's `drills` table (`status` shows it).
    `seconds`: the time to recover (default: every step's)."""
    entry = DrillRecord(
        kind=kind,
        drill=drill,
        started_at=started_at,
        seconds=round(sum(steps.values()) if seconds is None else seconds, 3),
        ok=ok,
        steps=dict(steps),
        detail=detail,
        actor=actor(),
    )
    await session.primary.call(DRILL_RECORD, entry)
    return entry


class Clock:
    """Each step's duration, in the order they ran."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self.started_at = time.time()
        self._mark = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = round(now - self._mark, 3)
        self._mark = now


async def _repository_listing(
    session: Session, env: Environment, secrets: dict[str, str]
) -> list[BackupRecord]:
    """Every snapshot of the environment in its repository, as the new host sees it."""
    if env.backup is None:
        return []
    await session.open()
    try:
        repository = backup_plan.repository(env.backup, secrets)
        listing = await session.primary.call(BACKUP_LIST, BackupListRequest(repository))
        return listing.backups
    finally:
        await session.close()


async def _choose_release(
    working: Environment,
    to: str,
    release: str | None,
    records: list[BackupRecord],
    reporter: Reporter,
    session_of: Callable[[Environment], Session],
) -> plan.ReleaseChoice:
    """--release; else the active release of any old host that still answers; else the
    release the newest backup was taken under."""
    if release is not None:
        digest = plan.digest_for(records, release)
        return plan.ReleaseChoice(release, digest, "--release")
    for entry in plan.old_hosts(working, to):
        session = session_of(working.model_copy(update={"hosts": [entry]}))
        try:
            async with asyncio.timeout(OLD_HOST_TIMEOUT):
                await session.open()
                listing = await session.primary.call(RELEASES, Empty())
        except (ShipyardError, OSError, TimeoutError) as exc:
            reporter.info(f"old host {entry.address} does not answer ({_short(exc)})")
            continue
        finally:
            with contextlib.suppress(Exception):
                await session.close()
        row = listing.slots.get(listing.active_slot) if listing.active_slot else None
        info = next((r for r in listing.releases if row and r.release_id == row.release_id), None)
        if info is not None:
            return plan.ReleaseChoice(info.release_id, info.digest, f"old host {entry.address}")
    found = plan.release_from_backups(records)
    if found is None:
        raise RecoverRefused(
            f"cannot tell which release {working.name} ran: no old host answers and no "
            "backup in the repository names a release",
            hint="pass --release RELEASE_ID (see your CI's deploy log or "
            f"`shipyard history {working.name}` output you kept)",
        )
    return found


def _short(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ShipyardError) else str(exc) or type(exc).__name__
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _artifact(config: ConfigFile, choice: plan.ReleaseChoice) -> Artifact:
    """The release's artifact: rebuilt from its commit in the operator's repository (a
    build is deterministic), and refused unless its sha256 is the recorded one."""
    if "-dirty-" in choice.release_id:
        raise RecoverRefused(
            f"release {choice.release_id} was built from uncommitted changes and cannot be rebuilt",
            hint="pass --release with a committed release (deploy a commit after the recovery)",
        )
    try:
        artifact = build_artifact(
            config.path.parent,
            choice.release_id,
            allow_dirty=False,
            cache_dir=artifact_cache(),
            ignore_working_tree=True,
        )
    except ArtifactError as exc:
        raise RecoverFailed(
            f"cannot rebuild release {choice.release_id}: {exc.message}",
            hint="run the recovery from a clone of the app's repository that has that commit "
            "(`git fetch`)",
        ) from None
    if choice.digest is not None and artifact.digest != choice.digest:
        raise RecoverRefused(
            f"the artifact rebuilt from {choice.release_id} has sha256 {artifact.digest[:16]}..., "
            f"but {choice.source} recorded {choice.digest[:16]}...",
            hint="rebuild with the Shipyard version that built it, or pass --release with a "
            "release this version builds identically",
        )
    return artifact


async def _refuse_if_already_serving(session: Session) -> None:
    """Refuse a host that is a Shipyard host already and serves the environment, before
    the setup step runs there. A host that does not answer as one (a fresh server, or
    another version) is left to setup; the check under the lock comes after it."""
    try:
        async with asyncio.timeout(OLD_HOST_TIMEOUT):
            await session.open()
    except (ShipyardError, OSError, TimeoutError):
        with contextlib.suppress(Exception):
            await session.close()
        return
    try:
        await _refuse_if_serving(session, force=False)
    finally:
        await session.close()


async def _refuse_if_serving(session: Session, force: bool) -> None:
    listing = await session.primary.call(RELEASES, Empty())
    row = listing.slots.get(listing.active_slot) if listing.active_slot else None
    if row is not None and row.release_id and not force:
        raise RecoverRefused(
            f"{session.env.primary.address} already serves {session.env.name} "
            f"(release {row.release_id}); a recovery would overwrite its data",
            hint="recover onto a fresh server, or pass --force to replace what it serves",
        )


async def _verified(
    session: Session,
    env: Environment,
    secrets: dict[str, str],
    records: list[BackupRecord],
    reporter: Reporter,
) -> dict[str, str]:
    """Per source, the newest snapshot that passes `verify` here, on the new server (the
    verify records of the old one died with it): restored into scratch, checksums
    compared, the configured checks run."""
    backup = backup_plan.backup_of(env)
    names = [s.name for s in backup.sources]
    repository = backup_plan.repository(backup, secrets)
    specs = backup_plan.sources(backup, secrets, names)
    chosen: dict[str, str] = {}
    failures: list[str] = []
    for name, snapshots in plan.candidates(records, names).items():
        if not snapshots:
            failures.append(f"{name}: no snapshot in the repository")
            continue
        for snapshot_id in snapshots[:MAX_CANDIDATES]:
            request = BackupVerifyRequest(
                repository=repository,
                sources=specs,
                snapshot_id=snapshot_id,
                checks=backup_plan.checks(backup),
                read_data_subset=READ_DATA_SUBSET if not chosen and not failures else None,
                timeout=backup.timeout,
            )
            reply = await session.primary.call(
                BACKUP_VERIFY, request, timeout=backup.timeout * 2 + MARGIN
            )
            (result,) = reply.results
            if result.ok:
                reporter.info(f"{name}: snapshot {snapshot_id} verified ({result.detail})")
                chosen[name] = snapshot_id
                break
            reporter.info(f"{name}: snapshot {snapshot_id} FAILED verify: {result.detail}")
        else:
            failures.append(f"{name}: none of the newest {MAX_CANDIDATES} snapshots verified")
    if failures:
        raise BackupFailed(
            f"no verified backup to recover {env.name} from: " + "; ".join(failures),
            hint=f"see `shipyard backup list {env.name}`; restore by hand with "
            "`shipyard backup restore` if you accept an unverified snapshot",
        )
    return chosen


async def _restore(
    session: Session,
    env: Environment,
    secrets: dict[str, str],
    snapshots: dict[str, str],
    reporter: Reporter,
) -> list[Restored]:
    backup = backup_plan.backup_of(env)
    repository = backup_plan.repository(backup, secrets)
    done = []
    for spec in backup_plan.sources(backup, secrets, list(snapshots)):
        request = BackupRestoreRequest(
            repository=repository,
            source=spec,
            snapshot_id=snapshots[spec.name],
            timeout=backup.timeout,
        )
        reply = await session.primary.call(BACKUP_RESTORE, request, timeout=backup.timeout + MARGIN)
        reporter.info(
            f"{spec.name}: restored snapshot {reply.snapshot_id} in {reply.seconds:.1f}s, "
            f"read from {reply.read_from}"
        )
        done.append(Restored(spec.name, reply.snapshot_id, reply.seconds))
    return done
