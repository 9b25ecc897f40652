"""Run one check against all its targets, concurrently; results as the store keeps them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from shipyard.config.model import Environment
from shipyard.config.observe import Check, HeartbeatProbe, HttpProbe, TcpProbe, TlsProbe
from shipyard.plan.check_results import CheckResult
from shipyard.plan.check_targets import Target, targets
from shipyard.serve.checks.heartbeat import judge_heartbeat
from shipyard.serve.checks.http import run_http
from shipyard.serve.checks.http_client import Pool
from shipyard.serve.checks.outcome import Outcome, failed
from shipyard.serve.checks.tcp import run_tcp
from shipyard.serve.checks.tls import run_tls

LastBeat = Callable[[str, str], float | None]  # (env, name) -> UNIX seconds


async def _one(
    client: httpx.AsyncClient,
    check: Check,
    target: Target,
    env: str,
    last_beat: LastBeat,
    pool: Pool | None,
) -> Outcome:
    try:
        if isinstance(check, HttpProbe):
            return await run_http(client, check, target, pool)
        if isinstance(check, TcpProbe):
            return await run_tcp(check.address, check.timeout)
        if isinstance(check, TlsProbe):
            return await run_tls(check)
        assert isinstance(check, HeartbeatProbe)
        return judge_heartbeat(check, last_beat(env, check.name), time.time())
    except Exception as exc:  # a runner's own bug must not stop the other checks
        return failed(f"check failed to run: {type(exc).__name__}: {exc}")


async def run_check(
    client: httpx.AsyncClient,
    env: Environment,
    check: Check,
    last_beat: LastBeat,
    maintenance: bool = False,
    pool: Pool | None = None,
) -> list[CheckResult]:
    """One run of `check` on every target; `maintenance` marks the results as such."""
    where = targets(env, check)
    at = time.time()
    if len(where) == 1:  # most checks: no task to create
        outcomes = [await _one(client, check, where[0], env.name, last_beat, pool)]
    else:
        outcomes = list(
            await asyncio.gather(
                *(_one(client, check, t, env.name, last_beat, pool) for t in where)
            )
        )
    return [
        CheckResult(
            env=env.name,
            check=check.name,
            host=target.host,
            at=at,
            ok=outcome.ok,
            latency_ms=outcome.latency_ms,
            status=outcome.status,
            error=outcome.error,
            maintenance=maintenance,
        )
        for target, outcome in zip(where, outcomes, strict=True)
    ]
