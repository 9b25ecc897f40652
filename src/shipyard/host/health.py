"""Probe a slot (on its own socket or port) or the environment (through nginx)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.core.addresses import reachable
from shipyard.protocol.common import Probe
from shipyard.protocol.specs import HealthSpec

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Target:
    """Where to send a probe: a unix socket, or a TCP address."""

    socket: Path | None = None
    address: str | None = None  # host:port
    host_header: str | None = None

    def url(self, path: str) -> str:
        if self.socket is not None:
            return f"http://unix:{self.socket}:{path}"
        return f"http://{self.address}{path}"


_clients: dict[tuple[Target, float], httpx.Client] = {}


def client_for(target: Target, timeout: float) -> httpx.Client:
    """One client per target, kept for the host agent's life (building one costs ~30 ms).

    It keeps no idle connections: every probe opens a new one, as a new visitor would.
    """
    import httpx  # imported when probing: host operations that never probe start faster

    key = (target, timeout)
    if key not in _clients:
        transport = httpx.HTTPTransport(
            uds=str(target.socket) if target.socket else None,
            verify=False,  # plain HTTP on a socket or loopback: no TLS, no CA bundle to load
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        _clients[key] = httpx.Client(transport=transport, timeout=timeout)
    return _clients[key]


def probe_once(target: Target, path: str, timeout: float, release_header: str | None) -> Probe:
    import httpx

    base = "http://slot" if target.socket else f"http://{target.address}"
    headers = {"Host": target.host_header} if target.host_header else {}
    started = time.monotonic()
    at = time.time()
    try:
        response = client_for(target, timeout).get(base + path, headers=headers)
        release = response.headers.get(release_header) if release_header else None
        return Probe(target.url(path), at, _ms(started), response.status_code, None, release)
    except httpx.HTTPError as exc:
        return Probe(target.url(path), at, _ms(started), None, _describe(exc), None)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _describe(exc: httpx.HTTPError) -> str:
    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return text


@dataclass(frozen=True)
class HealthVerdict:
    healthy: bool
    probes: list[Probe]
    reason: str


def judge(probe: Probe, expected_status: int, expected_release: str | None) -> tuple[bool, str]:
    """Pure: does one probe count as a success?"""
    if probe.status is None:
        return False, probe.error or "no response"
    if probe.status != expected_status:
        return False, f"status {probe.status}, expected {expected_status}"
    if expected_release and probe.release and probe.release != expected_release:
        return False, f"answered by release {probe.release}, expected {expected_release}"
    return True, "ok"


def wait_healthy(
    target: Target,
    *,
    path: str,
    expected_status: int,
    interval: float,
    timeout: float,
    deadline: float,
    threshold: int,
    release_header: str | None,
    expected_release: str | None,
    gave_up: Callable[[], str | None] = lambda: None,
) -> HealthVerdict:
    """Probe until `threshold` consecutive successes, or until the deadline passes.

    `gave_up` is asked between probes and may end the wait early with a reason
    (e.g. the process has exited for good).
    """
    probes: list[Probe] = []
    streak = 0
    reason = "deadline passed"
    end = time.monotonic() + deadline
    while True:
        probe = probe_once(target, path, timeout, release_header)
        probes.append(probe)
        ok, why = judge(probe, expected_status, expected_release)
        streak = streak + 1 if ok else 0
        if streak >= threshold:
            return HealthVerdict(True, probes[-20:], "healthy")
        if not ok:
            reason = why
        stop = gave_up()
        if stop:
            return HealthVerdict(False, probes[-20:], stop)
        if time.monotonic() + interval > end:
            return HealthVerdict(False, probes[-20:], f"not healthy within {deadline:g}s: {reason}")
        time.sleep(interval)


def wait_until_healthy(
    target: Target,
    health: HealthSpec,
    expected_release: str | None,
    *,
    interval: float | None = None,
    deadline: float | None = None,
    threshold: int | None = None,
    gave_up: Callable[[], str | None] = lambda: None,
) -> HealthVerdict:
    """`wait_healthy` with the environment's health rules, some of them overridden."""
    return wait_healthy(
        target,
        path=health.path,
        expected_status=health.status,
        interval=health.interval if interval is None else interval,
        timeout=health.timeout,
        deadline=health.deadline if deadline is None else deadline,
        threshold=health.healthy_threshold if threshold is None else threshold,
        release_header=health.release_header,
        expected_release=expected_release,
        gave_up=gave_up,
    )


def through_nginx(listen: str, server_names: list[str]) -> Target:
    """Where the environment's nginx is reached on this host, with a Host header nginx's
    server block accepts (the first plain server name, if there is one)."""
    names = [n for n in server_names if n != "_" and "*" not in n]
    return Target(address=reachable(listen), host_header=names[0] if names else None)
