"""TLS checks: the certificate verifies for its name and has at least N days left."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

from shipyard.config.observe import TlsProbe
from shipyard.serve.checks.outcome import Outcome, failed


def _context(probe: TlsProbe) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=probe.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def run_tls(probe: TlsProbe, now: float | None = None) -> Outcome:
    host, _, port = probe.address.rpartition(":")
    name = probe.server_name or host.strip("[]")
    started = time.perf_counter()
    try:
        context = _context(probe)
    except (OSError, ssl.SSLError) as exc:
        return failed(f"cannot read ca_file {probe.ca_file}: {exc}")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port), ssl=context, server_hostname=name),
            probe.timeout,
        )
    except TimeoutError:
        return failed(f"no TLS handshake within {probe.timeout:g} s")
    except ssl.SSLCertVerificationError as exc:
        return failed(f"certificate does not verify: {exc.verify_message or exc.reason}")
    except ssl.SSLError as exc:
        return failed(f"TLS failed: {exc.reason or exc}")
    except ConnectionRefusedError:
        return failed("connection refused")
    except OSError as exc:
        return failed(f"cannot connect: {exc.strerror or exc}")
    latency = (time.perf_counter() - started) * 1000
    try:
        certificate = writer.get_extra_info("peercert") or {}
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    not_after = certificate.get("notAfter")
    if not isinstance(not_after, str):
        return failed("the server sent no certificate", latency)
    expires = ssl.cert_time_to_seconds(not_after)
    days = int((expires - (now if now is not None else time.time())) // 86400)
    if days < probe.days_left:
        return failed(
            f"certificate expires in {days} days ({not_after}), under days_left {probe.days_left}",
            latency,
            days,
        )
    return Outcome(True, latency, days)
