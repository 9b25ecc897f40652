"""OBSERVE: post-switch analysis across every host, interval by interval."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shipyard.execute.session import Session
from shipyard.plan import requests
from shipyard.plan.analysis import Analysis, Thresholds, measure


async def observe(
    session: Session, release_id: str, switched: dict[str, dict[str, Any]], window: float
) -> tuple[bool, dict[str, Any]]:
    """Watch the new release for the configured window. Returns (passed, figures).

    Ends early, failed, as soon as `failure_limit` measurements have failed.
    """
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
    offsets = {host: int(reply.get("log_offset", 0)) for host, reply in switched.items()}
    since = {host: float(reply.get("switched_at", time.time())) for host, reply in switched.items()}
    started = time.monotonic()
    for client in session.clients:
        session.reporter.phase(client.label, "observe", "start", f"{window:g}s")
    verdict = "continue"
    while verdict == "continue":
        await asyncio.sleep(settings.interval)

        async def sample(client: Any) -> dict[str, Any]:
            reply: dict[str, Any] = await client.call(
                "observe-sample",
                requests.observe_sample(
                    env, client.entry, release_id, offsets[client.label], since[client.label]
                ),
            )
            offsets[client.label] = int(reply["offset"])
            return reply

        samples = await session.each("observe-sample", sample, quiet=True)
        measurement = measure(samples, analysis.thresholds)
        analysis.add(measurement)
        verdict = analysis.verdict(time.monotonic() - started >= window)
        if not measurement.ok:
            session.reporter.info("observe: " + "; ".join(measurement.reasons))
    session.timings["observe"] = round(time.monotonic() - started, 3)
    session.timings.pop("observe-sample", None)
    passed = verdict == "pass"
    for client in session.clients:
        session.reporter.phase(client.label, "observe", "ok" if passed else "failed")
    return passed, analysis.summary()
