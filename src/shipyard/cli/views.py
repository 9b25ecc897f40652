"""Human-readable tables for status, history and releases."""

from __future__ import annotations

from shipyard.cli.output import console, table, when
from shipyard.execute.locking import describe_lock
from shipyard.execute.queries import EnvironmentStatus, ReleaseView
from shipyard.plan.drills import describe as describe_drill
from shipyard.protocol.common import Deployment


def print_status(data: EnvironmentStatus) -> None:
    console.print(f"environment {data.environment}", markup=False)
    console.print("lock: " + (describe_lock(data.lock) if data.lock else "free"), markup=False)
    primary = data.hosts[0].status if data.hosts else None
    for deployment in primary.running_deployments if primary else []:
        console.print(f"in progress: {deployment.id}", markup=False)
    rows = []
    for host in data.hosts:
        status = host.status
        if not status.initialised:
            rows.append([host.host, "-", "not deployed yet", "", "", ""])
            continue
        for slot in status.slots:
            probe = slot.probe
            health = "-"
            if probe:
                health = f"HTTP {probe.status}" if probe.status else str(probe.error)
            rows.append(
                [
                    host.host,
                    slot.slot + (" (active)" if slot.active else ""),
                    slot.release_id or "-",
                    slot.state,
                    slot.process,
                    health,
                ]
            )
        if status.active_slot and status.nginx_target not in (None, status.active_slot):
            console.print(
                f"warning: on {host.host} nginx points at slot {status.nginx_target}, not the "
                f"active slot {status.active_slot}: run `shipyard repair {data.environment}`",
                markup=False,
            )
    table("", ["host", "slot", "release", "state", "process", "health"], rows)
    last = data.last_deployment
    if last:
        console.print(
            f"last: {last.kind} {last.release_id} {last.outcome} "
            f"by {last.actor} at {when(last.started_at)}",
            markup=False,
        )
    for source in data.backups:
        console.print(f"backup {source.describe()}", markup=False)
    for line in certificate_lines(data):
        console.print(line, markup=False)
    for source in data.stale_backups:
        console.print(
            f"warning: BACKUP OVERDUE: {source.source} has "
            + (
                "never been backed up"
                if source.age is None
                else "no backup within backup.max_age (or backup.schedule.every and its grace)"
            )
            + f": run `shipyard backup run {data.environment}` and find out why it did not run",
            markup=False,
        )
    for drill in data.drills:
        console.print(f"{describe_drill(drill)} at {when(drill.started_at)}", markup=False)


def print_history(deployments: list[Deployment]) -> None:
    rows = []
    for d in deployments:
        duration = f"{d.finished_at - d.started_at:.1f}s" if d.finished_at else "-"
        rows.append(
            [
                when(d.started_at),
                d.kind,
                d.release_id,
                (d.commit_sha or "")[:12],
                d.trigger,
                d.actor,
                d.outcome,
                duration,
                runs(d.runtime),
                (d.error or d.message or "")[:80],
            ]
        )
    table(
        "",
        [
            "started",
            "kind",
            "release",
            "commit",
            "trigger",
            "actor",
            "outcome",
            "took",
            "runs",
            "note",
        ],
        rows,
    )


def runs(record: object) -> str:
    """Where what ran came from: the release's file, the working tree's, the recorded one."""
    if not isinstance(record, dict):
        return "-"
    source = {"release": "release's", "working-tree": "WORKING TREE's", "recorded": "recorded"}
    name = str(record.get("source"))
    text = f"{source.get(name, name)} {record.get('digest')}"
    differs = record.get("differs") or []
    return text + (f" ({len(differs)} differ)" if differs else "")


def print_releases(releases: list[ReleaseView]) -> None:
    rows = []
    for r in releases:
        mark = "active" if r.active else ("warm" if r.warm else "")
        rows.append(
            [
                r.release_id,
                (r.commit or "")[:12],
                r.commit_time or "-",
                r.status,
                r.last_outcome or "-",
                mark,
                "yes" if r.rollback_target else "no",
                _start(r.runtime),
                r.runtime_digest or "-",
            ]
        )
    table(
        "",
        [
            "release",
            "commit",
            "committed",
            "status",
            "last outcome",
            "slot",
            "rollback target",
            "start",
            "runtime",
        ],
        rows,
    )


def _start(spec: object) -> str:
    start = spec.get("start") if isinstance(spec, dict) else None
    return str(start)[:40] if start else "-"


def certificate_lines(data: EnvironmentStatus) -> list[str]:
    """`certificate on HOST: NAMES, expires DATE (N days left)`, and a warning when due."""
    if not data.certificates:
        return []
    import time

    from shipyard.plan.tls import days_left

    lines = []
    for host in data.certificates:
        cert = host.certificate
        if cert is None:
            lines.append(f"certificate on {host.host}: none ({host.problem or host.due})")
            continue
        left = days_left(cert, time.time())
        lines.append(
            f"certificate on {host.host}: {', '.join(cert.names)}, expires "
            f"{when(cert.not_after)} ({left:.1f} days left)"
        )
        if host.due:
            lines.append(
                f"warning: certificate on {host.host} is due: {host.due}: "
                f"run `shipyard tls renew {data.environment}`"
            )
    return lines
