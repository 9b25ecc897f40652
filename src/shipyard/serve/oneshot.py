"""`shipyard checks ENV`: every check of an environment run once, now."""

from __future__ import annotations

import asyncio
import time

import httpx

from shipyard.config.observe import HeartbeatProbe
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.plan.check_results import CheckResult
from shipyard.plan.maintenance_windows import in_maintenance
from shipyard.serve.checks.run import run_check


async def run_checks_once(config: ShipyardConfig, env_name: str) -> list[CheckResult]:
    env = config.environments[env_name]
    checks = config.checks(env_name)
    store = None
    if any(isinstance(check, HeartbeatProbe) for check in checks):
        from shipyard.serve.app import open_context

        store = open_context(config).store  # heartbeats are pushed to serve's store

    def last_beat(env: str, name: str) -> float | None:
        return store.last_beat(env, name) if store is not None else None

    now = time.time()
    try:
        async with httpx.AsyncClient() as client:
            runs = await asyncio.gather(
                *(
                    run_check(
                        client,
                        env,
                        check,
                        last_beat,
                        in_maintenance(env.maintenance, check.name, now),
                    )
                    for check in checks
                )
            )
    finally:
        if store is not None:
            store.close()
    return [result for run in runs for result in run]
