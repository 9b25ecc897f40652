"""What the hosts are: each host's resources (for `serve`'s sampler) and facts (for
`shipyard parity`). Both only read; neither takes the lock."""

from __future__ import annotations

from shipyard.config.model import Environment
from shipyard.execute.hostclient import HostFactory, connect_host
from shipyard.execute.reporter import Reporter
from shipyard.execute.session import Session
from shipyard.plan.host_packages import HOST_PACKAGES
from shipyard.protocol.resources import (
    FACTS,
    RESOURCES,
    FactsReply,
    FactsRequest,
    ResourcesReply,
    ResourcesRequest,
)

SAMPLE_SECONDS = 0.5


async def resources(
    env: Environment,
    reporter: Reporter,
    *,
    sample_seconds: float = SAMPLE_SECONDS,
    hosts: HostFactory = connect_host,
) -> dict[str, ResourcesReply]:
    """One resource sample of every host of `env`, by host label."""
    session = Session(env, reporter, hosts=hosts)
    request = ResourcesRequest(sample_seconds=sample_seconds, mounts=[])
    try:
        await session.open()
        return await session.each("resources", lambda h: h.call(RESOURCES, request), quiet=True)
    finally:
        await session.close()


async def facts(
    env: Environment,
    reporter: Reporter,
    *,
    packages: tuple[str, ...] = HOST_PACKAGES,
    hosts: HostFactory = connect_host,
) -> dict[str, FactsReply]:
    """Every host's facts (OS, Python, nginx, packages, Shipyard, active release)."""
    session = Session(env, reporter, hosts=hosts)
    request = FactsRequest(nginx_binary=env.nginx.binary, packages=list(packages))
    try:
        await session.open()
        return await session.each("facts", lambda h: h.call(FACTS, request), quiet=True)
    finally:
        await session.close()
