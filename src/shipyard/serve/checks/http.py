"""HTTP checks: status, body substring, JSON field, response time."""

from __future__ import annotations

import time

import httpx

from shipyard.config.observe import HttpProbe
from shipyard.plan.check_targets import Target, http_spec
from shipyard.plan.checks import judge_response
from shipyard.serve.checks.outcome import Outcome, failed

MAX_BODY = 1024 * 1024  # a health page, not a download


async def run_http(client: httpx.AsyncClient, probe: HttpProbe, target: Target) -> Outcome:
    headers = {"Host": target.host_header} if target.host_header else {}
    started = time.perf_counter()
    try:
        async with client.stream(
            "GET", target.where, headers=headers, timeout=probe.timeout, follow_redirects=False
        ) as response:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_BODY:
                    break
            latency = (time.perf_counter() - started) * 1000
            body = b"".join(chunks).decode("utf-8", "replace")
            status = response.status_code
    except httpx.TimeoutException:
        return failed(f"no answer within {probe.timeout:g} s")
    except httpx.ConnectError as exc:
        return failed(_connect_error(exc))
    except httpx.HTTPError as exc:
        return failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    problem = judge_response(http_spec(probe), status, body)
    if problem is None and probe.max_ms is not None and latency > probe.max_ms:
        problem = f"took {latency:.0f} ms, over max_ms {probe.max_ms:g}"
    if problem is not None:
        return failed(problem, latency, status)
    return Outcome(True, latency, status)


def _connect_error(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:  # httpx wraps the socket's own error
        if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower():
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    return f"cannot connect: {exc}" if str(exc) else "cannot connect"
