"""Delivery metrics with what only the serve store knows: uptime from the stored check
results and the team's confidence ratings. `shipyard metrics` and `shipyard confidence`
use it; the dashboard can too."""

from __future__ import annotations

from pathlib import Path

from shipyard.config.shipyard_config import ShipyardConfig
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
