"""Pure builders: what each host operation is asked, from config and a release.

Like Kamal's command builders, these return plain data and do no I/O, so tests can
assert exactly what a host would be told.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from shipyard.config.model import Environment, HostEntry


def host_argv(env: Environment, host: HostEntry, op: str) -> list[str]:
    """The argv that runs a host operation. Local hosts run this very installation."""
    if host.is_local:
        return [sys.executable, "-m", "shipyard.host", op]
    return [*shlex.split(env.shipyard_command), "host", op]


def base(env: Environment, host: HostEntry) -> dict[str, Any]:
    return {"root": env.root_for(host), "app": env.app, "env": env.name}


def proxy(env: Environment, host: HostEntry) -> dict[str, Any]:
    return {
        "mode": env.nginx.mode,
        "binary": env.nginx.binary,
        "listen": env.listen_for(host),
        "server_names": list(env.nginx.server_names),
        "client_max_body_size": env.nginx.client_max_body_size,
        "listen_mode": env.listen_mode,
        "include_dir": env.nginx.include_dir,
        "worker_user": env.nginx.worker_user,
        "pid_file": env.nginx.pid_file,
        "drain_timeout": env.drain_timeout,
    }


def health(env: Environment) -> dict[str, Any]:
    return env.health.model_dump()


def prepare(
    env: Environment,
    *,
    release_id: str,
    digest: str,
    artifact: str,
    manifest: dict[str, Any],
    env_values: dict[str, str],
) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "digest": digest,
        "artifact": artifact,
        "manifest": manifest,
        "env_values": env_values,
        "shared": env.shared.model_dump(),
        "build": env.build,
        "build_timeout": env.build_timeout,
        "resources": env.resources.model_dump(),
    }


def boot(env: Environment, release_id: str, env_values: dict[str, str]) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "env_values": env_values,
        "start": env.start,
        "listen_mode": env.listen_mode,
        "ports": list(env.ports),
        "resources": env.resources.model_dump(),
        "workers": {name: worker.command for name, worker in env.workers.items()},
    }


def check(env: Environment, slot: str, release_id: str, *, warm: bool = False) -> dict[str, Any]:
    """Health until healthy; then (for a new boot) the pre-switch smoke checks."""
    return {
        "slot": slot,
        "release_id": release_id,
        "health": health(env) | ({"healthy_threshold": 1} if warm else {}),
        "listen_mode": env.listen_mode,
        "smoke": [] if warm else [c.model_dump() for c in env.smoke],
        "smoke_command": None if warm else env.smoke_command,
        "workers": {} if warm else {n: w.model_dump() for n, w in env.workers.items()},
    }


def retire_window(env: Environment, observe_window: float | None = None) -> float:
    """How long the old slot stays warm: the rollback window, and never less than the
    post-switch analysis (and smoke tests) need to switch back to it."""
    window = env.observe.window if observe_window is None else observe_window
    needed = 0.0
    if window and env.auto_rollback:
        needed = window + 2 * env.observe.interval + 5
    if env.smoke_tests.http or env.smoke_tests.commands:
        needed += env.smoke_tests.command_timeout + 30
    return max(env.rollback_window, needed)


def switch(
    env: Environment,
    host: HostEntry,
    slot: str,
    release_id: str | None,
    observe_window: float | None = None,
    *,
    retreat: bool = False,
) -> dict[str, Any]:
    return {
        "slot": slot,
        "release_id": release_id,
        "listen_mode": env.listen_mode,
        "ports": list(env.ports),
        "rollback_window": retire_window(env, observe_window),
        "retreat": retreat,
        "proxy": proxy(env, host),
    }


def release_command(
    env: Environment, release_id: str, env_values: dict[str, str]
) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "command": env.release_command,
        "timeout": env.release_command_timeout,
        "env_values": env_values,
    }


def verify(env: Environment, host: HostEntry, release_id: str) -> dict[str, Any]:
    return {
        "listen": env.listen_for(host),
        "server_names": list(env.nginx.server_names),
        "health": health(env),
        "release_id": release_id,
        "deadline": max(5.0, env.health.timeout * 3),
    }


def observe_sample(
    env: Environment, host: HostEntry, release_id: str, offset: int, since: float
) -> dict[str, Any]:
    return {
        "offset": offset,
        "since": since,
        "release_id": release_id,
        "listen": env.listen_for(host),
        "listen_mode": env.listen_mode,
        "ports": list(env.ports),
        "health": health(env),
        "server_names": list(env.nginx.server_names),
    }


def repair(env: Environment, host: HostEntry) -> dict[str, Any]:
    return {
        "proxy": proxy(env, host),
        "ports": list(env.ports),
        "health": health(env),
        "workers": sorted(env.workers),
    }


def proxy_request(env: Environment, host: HostEntry) -> dict[str, Any]:
    """The `proxy` operation: supervisord with this env's programs, nginx with its config."""
    return {"proxy": proxy(env, host), "ports": list(env.ports), "workers": sorted(env.workers)}
