"""REPAIR, RETIRE, CLEANUP and the rest of keeping a host tidy."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.protocol.op import Empty, Op
from shipyard.protocol.specs import HealthSpec, ProxySpec


@dataclass(frozen=True)
class RepairRequest:
    """Bring the host back to its recorded state: supervisord, nginx (pointing at the
    active slot), the active slot and its workers; stop slots an interrupted deploy left
    booting; wait until the active release is healthy. Applies no new configuration."""

    proxy: ProxySpec
    ports: tuple[int, int]
    health: HealthSpec
    workers: list[str]


@dataclass(frozen=True)
class RepairReply:
    actions: list[str]  # what was done, for people
    active_release: str | None


REPAIR = Op("repair", RepairRequest, RepairReply)


@dataclass(frozen=True)
class StopSlotRequest:
    """Stop a slot that is not serving (refused for the active one)."""

    slot: str


STOP_SLOT = Op("stop-slot", StopSlotRequest, Empty)


@dataclass(frozen=True)
class RetireRequest:
    """Stop warm slots whose rollback window ends within `ahead` seconds from now."""

    ahead: float


@dataclass(frozen=True)
class RetireReply:
    retired: list[str]


RETIRE = Op("retire", RetireRequest, RetireReply)


@dataclass(frozen=True)
class CleanupRequest:
    """Keep the newest `keep` release directories (failed ones count last), never those a
    slot runs or listed in `protect`; remove stale unpack and upload leftovers."""

    keep: int
    protect: list[str]
    # cached build products: those a kept release uses stay, and the newest
    # `build_cache_keep` of the others, per product
    build_cache_keep: int = 3


@dataclass(frozen=True)
class CleanupReply:
    removed: list[str]
    cache_removed: list[str] = field(default_factory=list)  # `<product>/<key>` entries


CLEANUP = Op("cleanup", CleanupRequest, CleanupReply)

SHUTDOWN = Op("shutdown", Empty, Empty)  # stop the environment's supervisord and all under it
