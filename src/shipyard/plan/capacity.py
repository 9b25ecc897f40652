"""Each environment's cost and idle capacity, from per-host monthly prices (config
`metrics.host_prices`) and the hosts' resource samples (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostLoad:
    """A host's average use over the window: shares of its CPUs and of its memory."""

    host: str
    cpu_share: float  # 0-1
    memory_share: float  # 0-1


@dataclass(frozen=True)
class HostCost:
    host: str
    monthly: float | None  # None: no price configured
    busy_share: float | None  # the larger of CPU and memory use; None: no samples
    idle_monthly: float | None  # monthly * (1 - busy_share)


@dataclass(frozen=True)
class EnvironmentCost:
    environment: str
    currency: str
    monthly: float  # the hosts with a price
    idle_monthly: float  # what their unused capacity costs
    unpriced: list[str]  # hosts without a price
    hosts: list[HostCost]


def environment_cost(
    environment: str,
    hosts: list[str],
    prices: dict[str, float],
    loads: dict[str, HostLoad],
    currency: str = "USD",
) -> EnvironmentCost:
    """A host is as busy as its busier resource (CPU or memory): what is left of that
    is idle capacity, priced at the host's share of its monthly price."""
    rows = []
    for host in hosts:
        price = prices.get(host)
        load = loads.get(host)
        busy = None if load is None else min(1.0, max(load.cpu_share, load.memory_share))
        idle = None if price is None or busy is None else round(price * (1 - busy), 2)
        rows.append(HostCost(host, price, busy, idle))
    return EnvironmentCost(
        environment=environment,
        currency=currency,
        monthly=round(sum(r.monthly for r in rows if r.monthly is not None), 2),
        idle_monthly=round(sum(r.idle_monthly for r in rows if r.idle_monthly is not None), 2),
        unpriced=[r.host for r in rows if r.monthly is None],
        hosts=rows,
    )
