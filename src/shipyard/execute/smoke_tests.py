"""Post-switch smoke tests, run from the operator's side against the environment's URL."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config.model import Environment, HttpSmokeTest
from shipyard.plan.checks import judge_response
from shipyard.plan.requests import http_check

if TYPE_CHECKING:
    import httpx


def _check_http(client: httpx.Client, base: str, test: HttpSmokeTest) -> dict[str, Any]:
    import httpx

    started = time.monotonic()
    result: dict[str, Any] = {"check": f"GET {test.path}", "ok": False}
    try:
        response = client.get(base + test.path, timeout=test.timeout)
    except httpx.HTTPError as exc:
        result["detail"] = f"{type(exc).__name__}: {exc}"
        return result | {"seconds": round(time.monotonic() - started, 3)}
    result["seconds"] = round(time.monotonic() - started, 3)
    problem = judge_response(http_check(test), response.status_code, response.text)
    if problem:
        result["detail"] = problem
    else:
        result["ok"] = True
    return result


async def _check_command(command: str, cwd: Path, url: str, env: Environment) -> dict[str, Any]:
    started = time.monotonic()
    variables = dict(os.environ) | {"SHIPYARD_URL": url, "SHIPYARD_ENV": env.name}
    process = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        command,
        cwd=cwd,
        env=variables,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(env.smoke_tests.command_timeout):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"check": command, "ok": False, "detail": "timed out"}
    lines = output.decode(errors="replace").strip().splitlines()[-10:]
    ok = process.returncode == 0
    detail = "" if ok else f"exit {process.returncode}: " + " | ".join(lines)
    return {
        "check": command,
        "ok": ok,
        "detail": detail,
        "seconds": round(time.monotonic() - started, 3),
    }


async def run_smoke_tests(env: Environment, app_dir: Path) -> dict[str, Any]:
    """Run every configured smoke test; return {passed, results, url}."""
    url = env.public_url
    results: list[dict[str, Any]] = []
    if env.smoke_tests.http:

        def http_checks() -> list[dict[str, Any]]:
            import httpx  # only when a smoke test is configured

            with httpx.Client(verify=True, follow_redirects=False) as client:
                return [_check_http(client, url, test) for test in env.smoke_tests.http]

        results += await asyncio.to_thread(http_checks)
    for command in env.smoke_tests.commands:
        results.append(await _check_command(command, app_dir, url, env))
    return {"passed": all(r["ok"] for r in results), "results": results, "url": url}
