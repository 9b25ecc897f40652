"""TCP checks: can a connection be opened to host:port?"""

from __future__ import annotations

import asyncio
import contextlib
import time

from shipyard.serve.checks.outcome import Outcome, failed


async def run_tcp(address: str, timeout: float) -> Outcome:
    host, _, port = address.rpartition(":")
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), timeout
        )
    except TimeoutError:
        return failed(f"no connection within {timeout:g} s")
    except ConnectionRefusedError:
        return failed("connection refused")
    except OSError as exc:
        return failed(f"cannot connect: {exc.strerror or exc}")
    latency = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(True, latency)
