"""Read-only views of a host: status and log lines."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.common import Deployment, LockInfo, Probe
from shipyard.protocol.op import Op


@dataclass(frozen=True)
class StatusRequest:
    health_path: str  # probed on each running slot
    probe: bool  # False: no probes (every `probe` in the reply is None)


@dataclass(frozen=True)
class SlotStatus:
    slot: str
    release_id: str | None
    state: str
    retire_at: float | None
    process: str  # supervisord's state of web-<slot>, DOWN if supervisord is not running
    workers: dict[str, str]  # worker name -> process state
    active: bool
    probe: Probe | None  # None when the process is not running


@dataclass(frozen=True)
class StatusReply:
    initialised: bool  # False: nothing was ever deployed here (every other field empty)
    active_slot: str | None
    active_release: str | None
    slots: list[SlotStatus]
    supervisor: str  # RUNNING or DOWN
    nginx: str
    nginx_target: str | None  # the slot nginx points at now, as read from its config
    lock: LockInfo | None
    running_deployments: list[Deployment]


STATUS = Op("status", StatusRequest, StatusReply)


@dataclass(frozen=True)
class LogsRequest:
    slot: str | None  # None: the active slot
    lines: int
    follow: bool  # keep printing new lines (one-shot `shipyard host logs` only)


@dataclass(frozen=True)
class LogsReply:
    slot: str
    lines: list[str]


LOGS = Op("logs", LogsRequest, LogsReply)
