"""The data of each dashboard page, as JSON-ready dicts: the templates render them and
`/api/...` returns them as they are, so a page and its API never disagree.

Nothing here reaches a host: everything comes from the pollers' snapshots and the store.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from shipyard.plan.confidence import Rating
from shipyard.plan.delivery import delivery_report, targets_from
from shipyard.protocol.codec import ProtocolError, decode, encode
from shipyard.protocol.common import Deployment, Event, Probe
from shipyard.serve.live import LiveDeploys
from shipyard.serve.reads import CheckBucket, DashboardStore, ResourceReading
from shipyard.serve.web import series, svg
from shipyard.serve.web.buckets import BucketCache, grid

OUTCOMES = ("running", "succeeded", "failed", "auto-rolled-back", "smoke-failed", "interrupted")
LATENCY_SLICES_PER_BAR = 3  # the response-time line has three points per uptime bar
PERIODS = {"24h": (86400.0, 96), "7d": (7 * 86400.0, 84), "30d": (30 * 86400.0, 90)}

Page = dict[str, Any]


def deployment_row(env: str, record: Deployment) -> Page:
    duration = (record.finished_at - record.started_at) if record.finished_at else None
    return {
        "env": env,
        "id": record.id,
        "kind": record.kind,
        "trigger": record.trigger,
        "release_id": record.release_id,
        "commit": record.commit_sha,
        "actor": record.actor,
        "message": record.message,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "duration": round(duration, 3) if duration is not None else None,
        "outcome": record.outcome,
        "error": record.error,
        "phases": record.phases,
        "hosts": record.hosts,
    }


def _who_deployed(records: list[tuple[str, Deployment]], release: str | None) -> Page | None:
    """The newest deployment that put `release` live: who, when, which commit."""
    for env, record in records:
        if record.release_id == release and record.outcome == "succeeded":
            return deployment_row(env, record)
    return None


def environment(live: LiveDeploys, store: DashboardStore, name: str) -> Page:
    snapshot = live.snapshot(name)
    records = [(name, r) for r in live.deploys.newest(name)[:20]]
    status = snapshot.status
    hosts: list[Page] = []
    active_release = None
    lock = None
    backups_stale = False
    if status is not None:
        lock = encode(status.lock)
        backups_stale = bool(status.stale_backups)
        for host in status.hosts:
            reply = host.status
            active_release = active_release or reply.active_release
            hosts.append(
                {
                    "host": host.host,
                    "initialised": reply.initialised,
                    "active_slot": reply.active_slot,
                    "active_release": reply.active_release,
                    "supervisor": reply.supervisor,
                    "nginx": reply.nginx,
                    "nginx_target": reply.nginx_target,
                    "slots": [
                        {
                            "slot": slot.slot,
                            "release_id": slot.release_id,
                            "state": slot.state,
                            "process": slot.process,
                            "active": slot.active,
                            "workers": slot.workers,
                            "healthy": slot.probe is not None
                            and slot.probe.status is not None
                            and slot.probe.status < 400,
                            "probe": slot.probe.describe() if slot.probe else None,
                        }
                        for slot in reply.slots
                    ],
                }
            )
    return {
        "name": name,
        "polled_at": snapshot.polled_at,
        "error": snapshot.error,
        "active_release": active_release,
        "deployed": _who_deployed(records, active_release),
        "lock": lock,
        "deploying": live.deploying(name),
        "backups_stale": backups_stale,
        "hosts": hosts,
        "recent": [deployment_row(env, r) for env, r in records[:10]],
    }


def environments(live: LiveDeploys, store: DashboardStore) -> Page:
    return {"environments": [environment(live, store, name) for name in sorted(live.envs)]}


def history(live: LiveDeploys, *, env: str | None, outcome: str | None, limit: int = 100) -> Page:
    envs = sorted(live.envs)
    rows = live.deploys.select([env] if env else envs, outcome=outcome, limit=limit)
    return {
        "env": env,
        "outcome": outcome,
        "environments": envs,
        "outcomes": list(OUTCOMES),
        "deployments": [deployment_row(e, r) for e, r in rows],
    }


def _event_row(event: Event) -> Page:
    detail = event.detail if isinstance(event.detail, dict) else {"detail": event.detail}
    return {
        "id": event.id,
        "at": event.at,
        "deployment_id": event.deployment_id,
        "kind": event.kind,
        "host": detail.get("host"),
        "phase": detail.get("phase"),
        "status": detail.get("status"),
        "detail": detail.get("detail") if event.kind == "phase" else detail,
        # a failed phase's evidence (redacted by the deploy before it was recorded)
        "probes": _probes(detail.get("probes")) if event.kind == "phase" else [],
        "log_tail": _lines(detail.get("log_tail")) if event.kind == "phase" else [],
    }


def _probes(value: object) -> list[Page]:
    """The probes of a phase event, each with the line the CLI prints for it."""
    if not isinstance(value, list):
        return []
    rows = []
    for item in value:
        if not isinstance(item, dict):
            continue
        try:
            probe = decode(Probe, item, "probe")
        except ProtocolError:
            continue
        rows.append({**dataclasses.asdict(probe), "line": probe.describe()})
    return rows


def _lines(value: object) -> list[str]:
    return [str(line) for line in value] if isinstance(value, list) else []


def phase_grid(events: list[Page]) -> Page:
    """Hosts x phases: each cell the phase's last status on that host (start, ok, failed)."""
    hosts: list[str] = []
    phases: list[str] = []
    cells: dict[str, dict[str, Page]] = {}
    failures: list[Page] = []
    for event in events:
        if event["kind"] != "phase" or not event["host"] or not event["phase"]:
            continue
        host, phase = str(event["host"]), str(event["phase"])
        if host not in hosts:
            hosts.append(host)
        if phase not in phases:
            phases.append(phase)
        cells.setdefault(host, {})[phase] = {"status": event["status"], "at": event["at"]}
        if event["status"] == "failed":
            failures.append(event)
    return {"hosts": hosts, "phases": phases, "cells": cells, "failures": failures}


def live_view(live: LiveDeploys, name: str) -> Page:
    """The running deployment of `name` (or the newest one) and its phases per host."""
    state = live.state(name)
    target = state.deploying
    if target is None:
        ids = [e.deployment_id for e in state.events if e.kind == "phase" and e.deployment_id]
        target = ids[-1] if ids else None
    events = [_event_row(e) for e in state.events if target and e.deployment_id == target]
    record = live.deploys.find(name, target) if target else None
    return {
        "env": name,
        "deployment_id": target,
        "running": state.deploying is not None,
        "deployment": deployment_row(name, record) if record else None,
        "events": events,
        "grid": phase_grid(events),
        "last_event_id": state.events[-1].id if state.events else 0,
    }


def event_row(event: Event) -> Page:
    return _event_row(event)


def checks(cache: BucketCache, name: str, period: str, now: float | None = None) -> Page:
    """Per check: uptime bars over `period` and the response times, as SVG and numbers."""
    now = time.time() if now is None else now
    span, count = PERIODS.get(period, PERIODS["24h"])
    slices = count * LATENCY_SLICES_PER_BAR
    start, end = grid(now, span, slices)
    by_check: dict[str, list[CheckBucket]] = {}
    first, found = cache.buckets(name, start, end, slices, now)
    for bucket in found:
        by_check.setdefault(bucket.check, []).append(bucket)
    rows = []
    for check, buckets in sorted(by_check.items()):
        bars = series.uptime_bars(
            buckets,
            start=start,
            end=end,
            count=count,
            group=LATENCY_SLICES_PER_BAR,
            offset=first,
        )
        lines = series.latency_lines(buckets, start=start, slice_s=span / slices, offset=first)
        last = cache.store.newest_result(name, check)
        pct = series.uptime_pct(buckets)
        rows.append(
            {
                "check": check,
                "results": sum(b.results for b in buckets),
                "uptime_pct": round(pct, 3) if pct is not None else None,
                "last": {
                    "at": last.at,
                    "ok": last.ok,
                    "latency_ms": last.latency_ms,
                    "host": last.host,
                }
                if last
                else None,
                "bars_svg": svg.uptime_bars(bars, title=f"{check} uptime over {period}"),
                "latency_svg": svg.line_chart(lines, unit=" ms", title=f"{check} response time"),
            }
        )
    return {"env": name, "period": period, "periods": list(PERIODS), "checks": rows}


DELIVERY_WINDOW = 30 * 86400.0


def delivery(live: LiveDeploys, store: DashboardStore, name: str, now: float | None = None) -> Page:
    """The delivery metrics of `name` over the last 30 days, from the mirrored records
    (the same computation as `shipyard metrics ENV`), with the uptime of its checks and
    its confidence ratings from the store."""
    now = time.time() if now is None else now
    env = live.envs[name]
    since = now - DELIVERY_WINDOW
    counts = store.result_counts(name, since, now).values()
    counted = sum(c[0] for c in counts)
    uptime = (counted - sum(c[1] for c in counts)) / counted if counted else None
    ratings = [Rating(who, at, score) for who, at, score in store.confidence(name, since)]
    report = delivery_report(
        name,
        live.deploys.newest(name),
        since=since,
        until=now,
        targets=targets_from(env.metrics.targets),
        requires_staging=env.promotion.requires is not None,
        hands_on_baseline_minutes=env.metrics.hands_on_baseline_minutes,
        uptime=uptime,
        ratings=ratings,
    )
    data: Page = encode(report)
    measures = [
        report.deployment_frequency,
        report.lead_time,
        report.change_failure_rate,
        report.recovery_time,
        report.rework_rate,
    ]
    data["measures"] = [
        {
            "name": m.name,
            "value": m.value,
            "shown": _shown(m.value, m.unit),
            "level": m.level,
            "counted": m.counted,
        }
        for m in measures
    ]
    data["goals"] = [
        {
            "name": t.name,
            "shown": _shown(t.value, t.unit),
            "target": _shown(t.target, t.unit),
            "at_least": t.at_least,
            "met": t.met,
            "counted": t.counted,
        }
        for t in report.targets
    ]
    return data


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "share":
        return f"{value * 100:.1f} %"
    return f"{value:.2f} {unit}"


RESOURCE_WINDOW = 86400.0
CHART_POINTS = 300


def _every(
    points: list[tuple[float, float]], limit: int = CHART_POINTS
) -> list[tuple[float, float]]:
    step = max(len(points) // limit, 1)
    return points[::step]


def resources(store: DashboardStore, name: str, now: float | None = None) -> Page:
    """Per host: CPU and memory use over the last day, as SVG and the newest numbers."""
    now = time.time() if now is None else now
    by_host: dict[str, list[ResourceReading]] = {}
    for sample in store.resource_samples(name, since=now - RESOURCE_WINDOW):
        by_host.setdefault(sample.host, []).append(sample)
    hosts = []
    for host, samples in sorted(by_host.items()):
        cpu = [(s.at, s.cpu_pct) for s in samples if s.cpu_pct is not None]
        memory = [
            (s.at, s.mem_used / s.mem_total * 100)
            for s in samples
            if s.mem_used is not None and s.mem_total
        ]
        lines = [svg.Series("CPU", _every(cpu)), svg.Series("memory", _every(memory))]
        last = samples[-1]
        hosts.append(
            {
                "host": host,
                "samples": len(samples),
                "last": {
                    "at": last.at,
                    "cpu_pct": last.cpu_pct,
                    "mem_used": last.mem_used,
                    "mem_total": last.mem_total,
                },
                "chart_svg": svg.line_chart(
                    lines, unit=" %", y_max=100, title=f"{host} CPU and memory"
                ),
            }
        )
    return {"env": name, "hosts": hosts}
