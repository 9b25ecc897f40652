"""BOOT and CHECK: the new release in the idle slot, healthy before anything switches."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.common import ListenMode, Probe
from shipyard.protocol.op import Op
from shipyard.protocol.specs import HealthSpec, HttpCheckSpec


@dataclass(frozen=True)
class BootRequest:
    """Check free memory, write the idle slot's spec and env file (0600), start its web
    process and workers. Nothing is stopped before the memory check passes."""

    release_id: str
    env_values: dict[str, str]  # the app's variables, secrets included
    start: str
    listen_mode: ListenMode
    ports: tuple[int, int]  # blue, green (tcp mode)
    workers: dict[str, str]  # worker name -> command
    min_free_memory_mb: int


@dataclass(frozen=True)
class BootReply:
    slot: str  # the slot the release was started in


BOOT = Op("boot", BootRequest, BootReply)


@dataclass(frozen=True)
class WorkerReadiness:
    """When a worker counts as ready: its command succeeds, or it stays up `ready_after` s."""

    readiness_command: str | None
    ready_after: float
    readiness_timeout: float


@dataclass(frozen=True)
class PreSwitchChecks:
    """Checks against the new slot itself before any traffic moves to it."""

    http: list[HttpCheckSpec]
    command: str | None
    command_timeout: float


@dataclass(frozen=True)
class CheckRequest:
    """Probe the slot until healthy (or the deadline), then wait for its workers, then run
    the pre-switch checks. A failure stops the slot and marks it failed, with evidence."""

    slot: str
    release_id: str
    health: HealthSpec
    listen_mode: ListenMode
    workers: dict[str, WorkerReadiness]
    pre_switch: PreSwitchChecks
    app_env: dict[str, str]  # what readiness and pre-switch commands see: `env`, never secrets


@dataclass(frozen=True)
class CheckReply:
    healthy: bool
    probes: list[Probe]  # the last few


CHECK = Op("check", CheckRequest, CheckReply)
