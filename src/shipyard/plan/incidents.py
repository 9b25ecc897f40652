"""Incidents: a check that failed `fail_after` times in a row on a host opens one incident
for the check (grouped across its hosts: one alert, however many hosts fail); it resolves
when every host has succeeded `resolve_after` times in a row. While it stays open a
reminder is due every `remind_every` seconds. Results inside a maintenance window count
for nothing: they neither open, remind nor resolve, and the counts start afresh after it.

Pure: `step` takes the state and one round of results and returns the new state and what
to tell people; the scheduler stores and sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from shipyard.plan.check_results import CheckResult


@dataclass(frozen=True)
class Incident:
    """One outage of one check in one environment. `hosts` are the hosts that were
    failing; `evidence` is the last failure's text (status, error, latency)."""

    env: str
    check: str
    opened_at: float
    hosts: tuple[str, ...]
    evidence: str
    last_alert_at: float | None = None
    resolved_at: float | None = None
    id: int | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True)
class Policy:
    fail_after: int = 3
    resolve_after: int = 2
    remind_every: float = 3600.0  # 0: never


@dataclass(frozen=True)
class CheckState:
    """Consecutive failures and successes per host, and the open incident if any."""

    failures: dict[str, int] = field(default_factory=dict)
    successes: dict[str, int] = field(default_factory=dict)
    incident: Incident | None = None


class Transition(Enum):
    OPENED = "opened"
    REMINDER = "reminder"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Change:
    """Something to tell people (and store) about an incident."""

    transition: Transition
    incident: Incident


def describe(result: CheckResult) -> str:
    """A result as evidence: `web1: status 503, 12 ms: body lacks 'Welcome'`."""
    parts = [result.host] if result.host != "-" else []
    detail = []
    if result.status is not None:
        detail.append(f"status {result.status}")
    if result.latency_ms is not None:
        detail.append(f"{result.latency_ms:.0f} ms")
    text = ", ".join(detail)
    if result.error:
        text = f"{text}: {result.error}" if text else result.error
    return ": ".join([*parts, text]) if parts else text


def step(
    state: CheckState, results: Sequence[CheckResult], policy: Policy, now: float
) -> tuple[CheckState, list[Change]]:
    """Apply one round of a check's results (one per host) at time `now`."""
    failures, successes = dict(state.failures), dict(state.successes)
    counted = [r for r in results if not r.maintenance]
    for result in results:
        if result.maintenance:  # a window starts the counts afresh
            failures[result.host] = successes[result.host] = 0
        elif result.ok:
            failures[result.host] = 0
            successes[result.host] = successes.get(result.host, 0) + 1
        else:
            successes[result.host] = 0
            failures[result.host] = failures.get(result.host, 0) + 1
    if not counted:  # all in maintenance: nothing counts, nothing is said
        return CheckState(failures, successes, state.incident), []
    hosts_now = sorted({r.host for r in counted})
    down = tuple(host for host in hosts_now if failures.get(host, 0) >= policy.fail_after)
    failing = [r for r in counted if not r.ok]
    evidence = "; ".join(describe(r) for r in failing)
    incident, changes = state.incident, []
    if incident is None:
        if down:
            first = counted[0]
            incident = Incident(
                env=first.env,
                check=first.check,
                opened_at=now,
                hosts=down,
                evidence=evidence,
                last_alert_at=now,
            )
            changes.append(Change(Transition.OPENED, incident))
    else:
        hosts = tuple(sorted(set(incident.hosts) | set(down)))
        incident = replace(incident, hosts=hosts, evidence=evidence or incident.evidence)
        recovered = all(successes.get(host, 0) >= policy.resolve_after for host in hosts_now)
        if recovered and not down:
            incident = replace(incident, resolved_at=now, last_alert_at=now)
            changes.append(Change(Transition.RESOLVED, incident))
        elif _reminder_due(incident, policy, now):
            incident = replace(incident, last_alert_at=now)
            changes.append(Change(Transition.REMINDER, incident))
    if incident is not None and not incident.open:
        return CheckState(failures, successes, None), changes
    return CheckState(failures, successes, incident), changes


def _reminder_due(incident: Incident, policy: Policy, now: float) -> bool:
    if policy.remind_every <= 0:
        return False
    last = incident.last_alert_at if incident.last_alert_at is not None else incident.opened_at
    return now - last >= policy.remind_every


def resume(history: Sequence[CheckResult], incident: Incident | None) -> CheckState:
    """The state after a restart: each host's trailing run of failures or successes in
    the stored history (oldest first), and the incident the store has open."""
    failures: dict[str, int] = {}
    successes: dict[str, int] = {}
    for result in history:
        if result.maintenance:
            failures[result.host] = successes[result.host] = 0
        elif result.ok:
            failures[result.host] = 0
            successes[result.host] = successes.get(result.host, 0) + 1
        else:
            successes[result.host] = 0
            failures[result.host] = failures.get(result.host, 0) + 1
    return CheckState(failures, successes, incident)
