"""Delivery metrics with what only the serve store knows: uptime from the stored check
results and the team's confidence ratings. `shipyard metrics` and `shipyard confidence`
use it; the dashboard can too."""

from __future__ import annotations

from pathlib import Path

from shipyard.config.model import Environment
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.plan.capacity import EnvironmentCost, HostLoad, environment_cost
from shipyard.plan.confidence import Rating
from shipyard.serve.store import DEFAULT_PATH, Store


def store_target(config: ShipyardConfig) -> str | Path | None:
    """Where `serve.store` / `serve.store_secret` says the store is (None: the default).
    A relative SQLite path is relative to the directory of shipyard.yml."""
    serve = config.serve
    if serve.store_secret is not None:
        return config.secret(serve.store_secret, "serve.store_secret")
    if serve.store is not None:
        path = Path(serve.store).expanduser()
        return path if path.is_absolute() else config.path.parent / path
    return None


def existing_store(config: ShipyardConfig) -> Store | None:
    """The store if one was made (by `serve` or a rating); None for a SQLite file that is
    not there yet, so reading metrics never creates one."""
    target = store_target(config)
    if isinstance(target, str):
        return Store.open(target)
    path = target if target is not None else DEFAULT_PATH
    return Store.open(path) if path.expanduser().exists() else None


def env_uptime(store: Store, env: str, since: float, until: float) -> float | None:
    """The share of the environment's check results in [since, until) that passed,
    maintenance excluded (every check and host together); None without results."""
    counts = store.result_counts(env, since, until)
    total = sum(counted for counted, _, _ in counts.values())
    failed = sum(failures for _, failures, _ in counts.values())
    return None if total == 0 else 1 - failed / total


def ratings(store: Store, env: str, since: float | None = None) -> list[Rating]:
    return [Rating(who, at, score) for who, at, score, _ in store.ratings(env, since)]


def host_loads(store: Store, env: str, since: float) -> dict[str, HostLoad]:
    """Each host's average CPU and memory share over the stored samples since `since`."""
    by_host: dict[str, list[tuple[float, float]]] = {}
    for sample in store.resource_samples(env, since=since):
        if sample.cpu_pct is None or not sample.mem_total or sample.mem_used is None:
            continue
        share = (sample.cpu_pct / 100, sample.mem_used / sample.mem_total)
        by_host.setdefault(sample.host, []).append(share)
    return {
        host: HostLoad(
            host,
            sum(cpu for cpu, _ in shares) / len(shares),
            sum(mem for _, mem in shares) / len(shares),
        )
        for host, shares in by_host.items()
    }


def cost(store: Store | None, env: Environment, since: float) -> EnvironmentCost | None:
    """The environment's monthly cost and idle capacity; None without host prices."""
    prices = env.metrics.host_prices
    if not prices:
        return None
    loads = host_loads(store, env.name, since) if store is not None else {}
    hosts = [h.address for h in env.hosts]
    return environment_cost(env.name, hosts, dict(prices), loads, env.metrics.currency)
