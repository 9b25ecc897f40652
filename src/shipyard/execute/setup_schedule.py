"""`shipyard setup`'s last step, `backup-schedule`: the backup and verify timers on the
primary of an environment with `backup.schedule`, after pyinfra has made the host.

They are installed through Shipyard's own transport as the deploy user, with the same
`install_schedule` as `shipyard backup schedule install`: the deploy user's own systemd
units (`plan.schedule.unit_target`), only what differs written, nothing with `check`.
Their requests hold secrets, so those are read from the operator's shipyard.yml before
setup changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.model import Environment, HostEntry
from shipyard.errors import ShipyardError
from shipyard.execute.backup import Plan
from shipyard.execute.reporter import Reporter
from shipyard.plan.setup_plan import schedules_backups

STEP = "backup-schedule"
NEEDS = ("deploy-user", "shipyard")  # steps that must be done before the host can be asked


class ScheduleFailed(ShipyardError):
    """The timers could not be installed; what pyinfra did is kept."""

    def __init__(self, message: str, hint: str, evidence: list[str]) -> None:
        super().__init__(message, hint)
        self.evidence = evidence

    def details(self) -> list[str]:
        return self.evidence


@dataclass(frozen=True)
class StepResult:
    status: str  # changed | unchanged | would-change
    changes: list[str] = field(default_factory=list)  # with check: what would change


def backup_plan(
    env: Environment, hosts: Sequence[HostEntry], config_file: Path | None
) -> Plan | None:
    """The backup plan (secrets resolved) whose timers setup installs, when the primary
    is among `hosts`; None without a schedule or without the operator's shipyard.yml."""
    if config_file is None or env.backup is None:
        return None
    if not any(schedules_backups(env, host.address) for host in hosts):
        return None
    from shipyard.config.loader import resolve_secrets

    return Plan(env, env.backup, resolve_secrets(env, config_file))


async def install(
    p: Plan, check: bool, reporter: Reporter, label: str, steps: Mapping[str, str]
) -> StepResult:
    """Install (or, with check, compare) the timers on the primary `label`; `steps`:
    what the earlier steps did there."""
    from shipyard.execute.backup_schedule import install_schedule

    reporter.phase(label, STEP, "start")
    if check and any(steps.get(s) == "would-change" for s in NEEDS):
        # the host cannot be asked before the deploy user and its Shipyard are there
        reporter.phase(label, STEP, "ok", "would-change")
        return StepResult("would-change", ["the backup and verify timers (after the steps above)"])
    session = p.session(reporter)
    try:
        await session.open(hosts=[session.primary])
        reply = await install_schedule(session, p, check=check)
    except ShipyardError as exc:
        reporter.phase(label, STEP, "failed", exc.message)
        raise ScheduleFailed(
            f"setup failed on {label} at step {STEP}",
            hint="fix what the output says, then run `shipyard setup` again (or `shipyard "
            "backup schedule install` alone): steps that are done are not repeated",
            evidence=[f"{label} {STEP}: {exc.message}"]
            + ([f"{label} {STEP}: hint: {exc.hint}"] if exc.hint else []),
        ) from None
    finally:
        await session.close()
    status = ("would-change" if check else "changed") if reply.changed else "unchanged"
    reporter.phase(label, STEP, "ok", f"{status} ({reply.manager} timers)")
    return StepResult(status, reply.changed if check else [])
