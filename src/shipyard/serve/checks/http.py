"""HTTP checks: status, body substring, JSON field, response time (plain http:// through
`http_client`, https:// through httpx)."""

from __future__ import annotations

import time

import httpx

from shipyard.config.observe import HttpProbe
from shipyard.plan.check_targets import Target, http_spec
from shipyard.plan.checks import judge_response
from shipyard.serve.checks import http_client
from shipyard.serve.checks.outcome import Outcome, failed

MAX_BODY = 1024 * 1024  # a health page, not a download


async def run_http(client: httpx.AsyncClient, probe: HttpProbe, target: Target) -> Outcome:
    headers = {"Host": target.host_header} if target.host_header else {}
    if target.where.startswith("http://"):
        return await _run_plain(probe, target, headers)
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
    return _judged(probe, status, body, latency)


async def _run_plain(probe: HttpProbe, target: Target, headers: dict[str, str]) -> Outcome:
    started = time.perf_counter()
    try:
        status, raw = await http_client.get(target.where, headers, probe.timeout, MAX_BODY)
    except TimeoutError:
        return failed(f"no answer within {probe.timeout:g} s")
    except ConnectionRefusedError:
        return failed("connection refused")
    except http_client.BadResponse as exc:
        return failed(str(exc))
    except OSError as exc:
        return failed(f"cannot connect: {exc.strerror or exc}")
    latency = (time.perf_counter() - started) * 1000
    return _judged(probe, status, raw.decode("utf-8", "replace"), latency)


def _judged(probe: HttpProbe, status: int, body: str, latency: float) -> Outcome:
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
