"""OBSERVE: post-switch analysis across every host, interval by interval."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shipyard.execute.hostclient import Host
from shipyard.execute.phases import Switched
from shipyard.execute.session import Session
from shipyard.plan import requests
from shipyard.plan.analysis import Analysis, Thresholds, measure
from shipyard.protocol.observe import OBSERVE_SAMPLE, ObserveSampleReply


async def observe(
    session: Session,
    release_id: str,
    switched: Switched,
    window: float,
    *,
    hosts: list[Host] | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Watch the new release on every host (or `hosts`: the batch that just switched)
    for the configured window. Returns (passed, figures).

    Ends early, failed, as soon as `failure_limit` measurements have failed.
    """
    targets = hosts if hosts is not None else session.hosts
    env = session.env
    settings = env.observe
    analysis = Analysis(
        Thresholds(
            max_error_ratio=settings.max_error_ratio,
            max_p95_ms=settings.max_p95_ms,
            failure_limit=settings.failure_limit,
            consecutive_successes=settings.consecutive_successes,
        )
    )
    offsets = {host: reply.log_offset for host, reply in switched.items()}
    since = {host: reply.switched_at for host, reply in switched.items()}
    started = time.monotonic()
    for host in targets:
        session.reporter.phase(host.label, "observe", "start", f"{window:g}s")
    verdict = "continue"
    while verdict == "continue":
        await asyncio.sleep(settings.interval)

        async def sample(host: Host) -> ObserveSampleReply:
            request = requests.observe_sample(
                env, host.entry, release_id, offsets[host.label], since[host.label]
            )
            reply = await host.call(OBSERVE_SAMPLE, request)
            offsets[host.label] = reply.offset
            return reply

        samples = await session.each("observe-sample", sample, hosts=targets, quiet=True)
        measurement = measure(samples, analysis.thresholds)
        analysis.add(measurement)
        verdict = analysis.verdict(time.monotonic() - started >= window)
        if not measurement.ok:
            session.reporter.info("observe: " + "; ".join(measurement.reasons))
    spent = time.monotonic() - started
    session.timings["observe"] = round(session.timings.get("observe", 0.0) + spent, 3)
    session.timings.pop("observe-sample", None)
    passed = verdict == "pass"
    for host in targets:
        session.reporter.phase(host.label, "observe", "ok" if passed else "failed")
    return passed, analysis.summary()
