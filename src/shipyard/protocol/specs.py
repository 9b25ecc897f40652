"""Deploy-time specs: how a host proxies, checks and runs a release's slots.

Only deploy-time operations carry these (start-up: `status` and `rollback` never load
them; docs/benchmarks-speed.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shipyard.protocol.common import ListenMode


@dataclass(frozen=True)
class HealthSpec:
    """How a slot is judged healthy (config: `health`)."""

    path: str
    status: int
    interval: float
    timeout: float
    deadline: float
    healthy_threshold: int
    release_header: str | None


@dataclass(frozen=True)
class TlsSpec:
    """nginx's HTTPS server for the environment (config: `tls`), part of ProxySpec."""

    listen: str  # the HTTPS listen address; HTTP (ProxySpec.listen) redirects to it
    hsts: str | None  # the Strict-Transport-Security value, or None: no header
    plain_paths: list[str]  # also answered over plain HTTP, not redirected (the health check)


@dataclass(frozen=True)
class ProxySpec:
    """The environment's nginx on this host (config: `nginx`, `listen_mode`, `drain_timeout`)."""

    mode: Literal["managed", "system"]
    binary: str
    listen: str
    server_names: list[str]
    client_max_body_size: str
    listen_mode: ListenMode
    include_dir: str | None
    worker_user: str | None
    pid_file: str
    drain_timeout: float
    local_host: bool  # the operator's own machine (`hosts: [local]`)
    tls: TlsSpec | None = None  # HTTPS (config: `tls`); served once a certificate is installed


@dataclass(frozen=True)
class HttpCheckSpec:
    """An HTTP check of a response: status, a substring of the body, a JSON field's value."""

    path: str
    status: int
    contains: str | None
    json_path: str | None
    equals: str | int | float | bool | None


@dataclass(frozen=True)
class SlotSpec:
    """What a slot runs, written at BOOT to `run/<slot>.json` and read by the launcher."""

    release_id: str
    start: str
    listen_mode: ListenMode
    port: int
    workers: dict[str, str]  # worker name -> command
