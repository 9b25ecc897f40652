"""Prometheus `/metrics`: read from the store (and the scheduler's newest results) at
each scrape, in serve's own registry (nothing of the process's default one).

Names follow Prometheus conventions: base units (seconds, bytes, ratios 0-1), `_total`
for counters, labels for the dimensions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from shipyard.plan.check_results import CheckResult
from shipyard.plan.uptime import WINDOWS
from shipyard.serve.context import ServeContext

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
PHASE_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

Latest = Callable[[str], Sequence[CheckResult]]


def _histogram(
    name: str,
    doc: str,
    labels: list[str],
    series: dict[tuple[str, ...], list[float]],
    buckets: Sequence[float],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for key, values in sorted(series.items()):
        counts = [(str(b), float(sum(1 for v in values if v <= b))) for b in buckets]
        counts.append(("+Inf", float(len(values))))
        family.add_metric(list(key), counts, sum_value=sum(values))
    return family


class ServeCollector(Collector):
    def __init__(self, ctx: ServeContext, latest: Latest | None = None) -> None:
        self.ctx = ctx
        self.latest = latest or ctx.store.latest_results

    def collect(self) -> Iterator[Metric]:
        store, now = self.ctx.store, time.time()
        envs = list(self.ctx.config.environments)
        up = GaugeMetricFamily(
            "shipyard_check_up", "1 if the check's last run passed", labels=["env", "check", "host"]
        )
        latency = GaugeMetricFamily(
            "shipyard_check_latency_seconds",
            "Response time of the check's last run",
            labels=["env", "check", "host"],
        )
        maintenance = GaugeMetricFamily(
            "shipyard_check_in_maintenance",
            "1 if the check's last run was inside a maintenance window",
            labels=["env", "check", "host"],
        )
        uptime = GaugeMetricFamily(
            "shipyard_uptime_ratio",
            "Share of passing results over the window, maintenance excluded",
            labels=["env", "check", "window"],
        )
        target = GaugeMetricFamily(
            "shipyard_slo_target_ratio", "The environment's SLO target", labels=["env"]
        )
        incidents = GaugeMetricFamily(
            "shipyard_open_incidents", "Incidents open now", labels=["env"]
        )
        open_by_env: dict[str, int] = {}
        for incident in store.open_incidents():
            open_by_env[incident.env] = open_by_env.get(incident.env, 0) + 1
        for env in envs:
            for result in self.latest(env):
                labels = [env, result.check, result.host]
                up.add_metric(labels, 1.0 if result.ok else 0.0)
                maintenance.add_metric(labels, 1.0 if result.maintenance else 0.0)
                if result.latency_ms is not None:
                    latency.add_metric(labels, result.latency_ms / 1000)
            for window, seconds in WINDOWS:
                for check, (counted, failed, _) in store.result_counts(env, now - seconds).items():
                    if counted:
                        uptime.add_metric([env, check, window], (counted - failed) / counted)
            target.add_metric([env], self.ctx.config.environments[env].slo.target / 100)
            incidents.add_metric([env], float(open_by_env.get(env, 0)))
        yield from (up, latency, maintenance, uptime, target, incidents)
        yield from self._deploys(envs)
        yield from self._resources(envs, now)

    def _deploys(self, envs: list[str]) -> Iterator[Metric]:
        counts: dict[tuple[str, str, str], int] = {}
        durations: dict[tuple[str, ...], list[float]] = {}
        phases: dict[tuple[str, ...], list[float]] = {}
        for env in envs:
            for record_json in self.ctx.store.mirrored_deploys(env).values():
                record: dict[str, Any] = json.loads(record_json)
                kind, outcome = str(record.get("kind")), str(record.get("outcome"))
                counts[(env, kind, outcome)] = counts.get((env, kind, outcome), 0) + 1
                started, finished = record.get("started_at"), record.get("finished_at")
                if isinstance(started, int | float) and isinstance(finished, int | float):
                    durations.setdefault((env, kind), []).append(float(finished - started))
                for phase, seconds in (record.get("phases") or {}).items():
                    if isinstance(seconds, int | float):
                        phases.setdefault((env, phase), []).append(float(seconds))
        total = CounterMetricFamily(
            "shipyard_deploys", "Deployments by kind and outcome", labels=["env", "kind", "outcome"]
        )
        for key, count in sorted(counts.items()):
            total.add_metric(list(key), float(count))
        yield total
        yield _histogram(
            "shipyard_deploy_duration_seconds",
            "Deployment durations, start to finish",
            ["env", "kind"],
            durations,
            DURATION_BUCKETS,
        )
        yield _histogram(
            "shipyard_deploy_phase_duration_seconds",
            "Durations of each phase of deployments",
            ["env", "phase"],
            phases,
            PHASE_BUCKETS,
        )

    def _resources(self, envs: list[str], now: float) -> Iterator[Metric]:
        cpu = GaugeMetricFamily("shipyard_host_cpu_ratio", "CPU busy share", labels=["env", "host"])
        load = GaugeMetricFamily("shipyard_host_load1", "1-minute load", labels=["env", "host"])
        used = GaugeMetricFamily(
            "shipyard_host_memory_used_bytes", "Memory in use", labels=["env", "host"]
        )
        total = GaugeMetricFamily(
            "shipyard_host_memory_total_bytes", "Memory installed", labels=["env", "host"]
        )
        disk_used = GaugeMetricFamily(
            "shipyard_host_disk_used_bytes",
            "Disk in use per mount",
            labels=["env", "host", "mount"],
        )
        disk_size = GaugeMetricFamily(
            "shipyard_host_disk_size_bytes", "Disk size per mount", labels=["env", "host", "mount"]
        )
        for env in envs:
            newest = {}
            for sample in self.ctx.store.resource_samples(env, since=now - 3600):
                newest[sample.host] = sample
            for host, sample in sorted(newest.items()):
                if sample.cpu_pct is not None:
                    cpu.add_metric([env, host], sample.cpu_pct / 100)
                if sample.load1 is not None:
                    load.add_metric([env, host], sample.load1)
                if sample.mem_used is not None:
                    used.add_metric([env, host], float(sample.mem_used))
                if sample.mem_total is not None:
                    total.add_metric([env, host], float(sample.mem_total))
                for disk in _disks(sample.disks_json):
                    mount = str(disk.get("mount", ""))
                    if isinstance(disk.get("used"), int | float):
                        disk_used.add_metric([env, host, mount], float(disk["used"]))
                    if isinstance(disk.get("total"), int | float):
                        disk_size.add_metric([env, host, mount], float(disk["total"]))
        yield from (cpu, load, used, total, disk_used, disk_size)


def _disks(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


def registry_for(ctx: ServeContext, latest: Latest | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServeCollector(ctx, latest))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
