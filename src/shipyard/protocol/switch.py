"""SWITCH and VERIFY: traffic moves to a slot in one atomic step, then is seen arriving."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.common import ListenMode, Probe
from shipyard.protocol.op import Op
from shipyard.protocol.specs import HealthSpec, ProxySpec


@dataclass(frozen=True)
class SwitchRequest:
    """Point nginx at `slot` (socket: two symlink renames; tcp: upstream rewrite, `nginx
    -t`, reload), move the workers, record it. All of it or none of it: a step that fails
    puts everything back as it was.

    `release_id` None: switch back to whatever the slot runs (undoing a switch whose reply
    was lost). `retreat`: going back (a rollback, an undo): the slot left behind is the
    suspect and never becomes nginx's backup.
    """

    slot: str
    release_id: str | None
    listen_mode: ListenMode
    ports: tuple[int, int]
    rollback_window: float  # the slot left behind stays warm this long
    retreat: bool
    proxy: ProxySpec


@dataclass(frozen=True)
class SwitchReply:
    previous_slot: str | None
    previous_release: str | None
    noop: bool  # the slot was already active: nothing changed
    log_offset: int  # nginx's access log size at the switch (the analysis reads from here)
    switched_at: float


SWITCH = Op("switch", SwitchRequest, SwitchReply)


@dataclass(frozen=True)
class VerifyRequest:
    """Probe through nginx until responses come from `release_id` (its release header)."""

    listen: str
    server_names: list[str]
    health: HealthSpec
    release_id: str
    deadline: float


@dataclass(frozen=True)
class VerifyReply:
    probes: list[Probe]


VERIFY = Op("verify", VerifyRequest, VerifyReply)
