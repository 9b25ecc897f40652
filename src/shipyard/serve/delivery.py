"""Delivery metrics with what only the serve store knows: uptime from the stored check
results and the team's confidence ratings. `shipyard metrics` and `shipyard confidence`
use it; the dashboard can too."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.config.model import Environment
from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.plan.capacity import EnvironmentCost, HostLoad, environment_cost
from shipyard.plan.confidence import Rating
from shipyard.plan.delivery import DeliveryReport, delivery_report, targets_from
from shipyard.protocol.codec import ProtocolError, decode
from shipyard.protocol.common import Deployment
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


def mirrored_history(store: Store, env: str) -> list[Deployment]:
    """The environment's deployment records as `serve` mirrored them (`deploy_mirror`,
    encoded `Deployment` JSON); records that do not decode are skipped."""
    result = []
    for record_json in store.mirrored_deploys(env).values():
        try:
            result.append(decode(Deployment, json.loads(record_json), "deploy_mirror"))
        except (ValueError, ProtocolError):
            continue
    return result


def delivery(
    env: Environment,
    history: list[Deployment],
    store: Store | None,
    *,
    since: float,
    until: float,
) -> tuple[DeliveryReport, EnvironmentCost | None]:
    """The environment's delivery report and cost: what `shipyard metrics` prints and
    the dashboard shows. `history` from the primary (`queries.history`) or the mirror."""
    uptime = env_uptime(store, env.name, since, until) if store is not None else None
    report = delivery_report(
        env.name,
        history,
        since=since,
        until=until,
        targets=targets_from(env.metrics.targets),
        requires_staging=env.promotion.requires is not None,
        uptime=uptime,
        hands_on_baseline_minutes=env.metrics.hands_on_baseline_minutes,
        ratings=ratings(store, env.name) if store is not None else None,
    )
    return report, cost(store, env, since)
