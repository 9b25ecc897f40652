"""OBSERVE: one interval of the post-switch analysis on one host."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.common import ListenMode, Traffic
from shipyard.protocol.op import Op
from shipyard.protocol.specs import HealthSpec


@dataclass(frozen=True)
class ObserveSampleRequest:
    """Read nginx's access log from `offset`, probe once through nginx, look at the
    active slot's processes."""

    offset: int
    since: float  # only requests logged after this time (the switch) count
    release_id: str
    listen: str
    listen_mode: ListenMode
    ports: tuple[int, int]
    health: HealthSpec
    server_names: list[str]


@dataclass(frozen=True)
class ProbeJudgement:
    ok: bool
    detail: str


@dataclass(frozen=True)
class ObserveSampleReply:
    offset: int  # where the next sample reads from
    traffic: Traffic
    probe: ProbeJudgement
    process: str  # RUNNING, or what is wrong with the web process or a worker


OBSERVE_SAMPLE = Op("observe-sample", ObserveSampleRequest, ObserveSampleReply)
