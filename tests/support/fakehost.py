"""A recording fake host for the orchestrator's unit tests.

`FakeFleet` plays every host of one or more environments: each `FakeHost` implements the
`Host` interface the orchestrator talks to, records every operation and its typed
request in one shared log (in the order they happened), and answers from a small model
of a healthy host (active slot, releases), unless the test scripted otherwise: an
operation that fails, or one that happens on the host but whose reply is lost.

It is for the orchestrator's logic only; what a real host does is tested against real
nginx, supervisord and sshd in tests/integration and tests/faults.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard import __version__
from shipyard.config.model import Environment, HostEntry
from shipyard.execute.hostclient import Host, HostError, Redactor
from shipyard.plan.layout import other_slot
from shipyard.protocol import boot, inspect, lock, maintenance, observe, prepare, records, switch
from shipyard.protocol.common import Deployment, ReleaseInfo, SlotRow, Traffic
from shipyard.protocol.drills import DrillListReply
from shipyard.protocol.inspect import LogsRequest, SlotStatus
from shipyard.protocol.op import PROTOCOL_VERSION, Empty, Op, Rep, Req


@dataclass
class Call:
    env: str
    host: str
    op: str
    request: Any
    lane: bool = False  # sent on the host's lane (Host.lane()), not its main channel


@dataclass
class HostModel:
    """What one fake host holds: enough to answer like a healthy host."""

    active_slot: str | None = None
    active_release: str | None = None
    slots: dict[str, SlotRow] = field(default_factory=dict)
    releases: list[ReleaseInfo] = field(default_factory=list)
    history: list[Deployment] = field(default_factory=list)
    version: str = __version__


class ReplyLost(Exception):
    """Scripted: the operation ran on the host, but its reply never came back."""


Script = Callable[[Any], Any]  # request -> reply, or raises


class FakeFleet:
    def __init__(self) -> None:
        self.log: list[Call] = []
        self.models: dict[tuple[str, str], HostModel] = {}
        self.scripts: dict[tuple[str, str, str], Script] = {}
        self.unreachable: set[tuple[str, str]] = set()

    # -- scripting ----------------------------------------------------------------
    def model(self, env: str, host: str = "local") -> HostModel:
        return self.models.setdefault((env, host), HostModel())

    def fail(self, env: str, host: str, op: str, message: str = "scripted failure") -> None:
        def script(request: Any) -> Any:
            raise HostError(host, op, message)

        self.scripts[(env, host, op)] = script

    def lose_reply(self, env: str, host: str, op: str) -> None:
        """The operation happens on the host; the operator never hears back."""

        def script(request: Any) -> Any:
            raise ReplyLost(op)

        self.scripts[(env, host, op)] = script

    def answer(self, env: str, host: str, op: str, script: Script) -> None:
        self.scripts[(env, host, op)] = script

    # -- reading the log --------------------------------------------------------------
    def ops(self, host: str | None = None, env: str | None = None) -> list[str]:
        return [
            c.op
            for c in self.log
            if (host is None or c.host == host) and (env is None or c.env == env)
        ]

    def calls(self, op: str, host: str | None = None) -> list[Call]:
        return [c for c in self.log if c.op == op and (host is None or c.host == host)]

    # -- the HostFactory -----------------------------------------------------------------
    def factory(self, env: Environment, entry: HostEntry, redact: Redactor) -> Host:
        return FakeHost(self, env, entry)


class FakeHost:
    def __init__(self, fleet: FakeFleet, env: Environment, entry: HostEntry) -> None:
        self.fleet = fleet
        self.env = env
        self.entry = entry
        self.on_lane = False

    @property
    def label(self) -> str:
        return self.entry.address

    @property
    def model(self) -> HostModel:
        return self.fleet.model(self.env.name, self.label)

    async def connect(self) -> None:
        self.fleet.log.append(Call(self.env.name, self.label, "connect", None))
        if (self.env.name, self.label) in self.fleet.unreachable:
            raise HostError(self.label, "connect", "connection refused", "is the host up?")

    async def hello(self, request: records.HelloRequest) -> records.HelloReply:
        self.fleet.log.append(Call(self.env.name, self.label, "hello", request))
        return records.HelloReply(
            version=self.model.version,
            protocol=PROTOCOL_VERSION,
            python="3.11.7",
            hostname=self.label,
            free_disk_bytes=10**10,
        )

    async def call(
        self, op: Op[Req, Rep], request: Req, *, timeout: float | None = None, oneshot: bool = False
    ) -> Rep:
        self.fleet.log.append(Call(self.env.name, self.label, op.name, request, self.on_lane))
        script = self.fleet.scripts.get((self.env.name, self.label, op.name))
        if script is not None:
            try:
                reply: Rep = script(request)
            except ReplyLost:
                self._healthy(op.name, request)  # it did happen on the host
                raise HostError(self.label, op.name, "the SSH connection broke") from None
            return reply
        answer: Rep = self._healthy(op.name, request)
        return answer

    async def upload(self, local_path: Path, remote_path: str) -> None:
        self.fleet.log.append(Call(self.env.name, self.label, "upload", remote_path))

    async def follow_logs(self, request: LogsRequest) -> AsyncIterator[str]:
        self.fleet.log.append(Call(self.env.name, self.label, "follow-logs", request))
        yield "a log line"

    def lane(self) -> Host:
        """The same recording host: its log says which calls came on the lane."""
        return FakeLane(self)

    async def close(self) -> None:
        pass

    # -- a healthy host ---------------------------------------------------------------
    def _healthy(self, op: str, request: Any) -> Any:
        m = self.model
        if op in ("lock-acquire",):
            return lock.LockAcquireReply(acquired=True, lock=None, taken_over=None)
        if op == "lock-release":
            return lock.LockReleaseReply(released=None)
        if op == "lock-refresh":
            return lock.LockRefreshReply(held=True)
        if op == "lock-status":
            return lock.LockStatusReply(lock=None)
        if op == "history":
            return records.HistoryReply(initialised=True, deployments=list(m.history))
        if op == "releases":
            return records.ReleasesReply(
                initialised=True,
                releases=list(m.releases),
                slots=dict(m.slots),
                active_slot=m.active_slot,
            )
        if op == "approval-list":
            return records.ApprovalsReply(approvals=[])
        if op == "repair":
            return maintenance.RepairReply(actions=[], active_release=m.active_release)
        if op == "prepare":
            return prepare.PrepareReply(reused=False)
        if op == "proxy":
            return prepare.ProxyReply(supervisor_started=False, nginx_config_changed=False)
        if op == "boot":
            slot = other_slot(m.active_slot) if m.active_slot else "blue"
            m.slots[slot] = SlotRow(slot, request.release_id, "booting", time.time(), None)
            return boot.BootReply(slot=slot)
        if op == "check":
            return boot.CheckReply(healthy=True, probes=[])
        if op == "switch":
            previous, previous_release = m.active_slot, m.active_release
            noop = previous == request.slot
            release = request.release_id or (
                m.slots[request.slot].release_id if request.slot in m.slots else None
            )
            m.active_slot, m.active_release = request.slot, release
            return switch.SwitchReply(
                previous_slot=previous,
                previous_release=previous_release,
                noop=noop,
                log_offset=0,
                switched_at=time.time(),
            )
        if op == "verify":
            return switch.VerifyReply(probes=[])
        if op == "observe-sample":
            return observe.ObserveSampleReply(
                offset=0,
                traffic=Traffic(requests=10, errors=0, fallbacks=0, p50_ms=5.0, p95_ms=9.0),
                probe=observe.ProbeJudgement(ok=True, detail="ok"),
                process="RUNNING",
            )
        if op == "cleanup":
            return maintenance.CleanupReply(removed=[])
        if op == "retire":
            return maintenance.RetireReply(retired=[])
        if op == "status":
            return self._status()
        if op == "drill-list":
            return DrillListReply(drills=[])
        if op in (
            "record-start",
            "record-update",
            "record-progress",
            "set-release-status",
            "stop-slot",
            "release-command",
            "shutdown",
            "drill-record",
        ):
            return Empty()
        raise AssertionError(f"the fake host has no answer for {op}")

    def _status(self) -> inspect.StatusReply:
        m = self.model
        slots = [
            SlotStatus(
                slot=name,
                release_id=row.release_id,
                state=row.state,
                retire_at=row.retire_at,
                process="RUNNING" if row.state in ("active", "warm", "healthy") else "STOPPED",
                workers={},
                active=name == m.active_slot,
                probe=None,
            )
            for name, row in sorted(m.slots.items())
        ]
        return inspect.StatusReply(
            initialised=True,
            active_slot=m.active_slot,
            active_release=m.active_release,
            slots=slots,
            supervisor="RUNNING",
            nginx="RUNNING",
            nginx_target=m.active_slot,
            lock=None,
            running_deployments=[],
        )


class FakeLane(FakeHost):
    """A FakeHost's lane: the same host, its calls logged with `lane=True`."""

    def __init__(self, host: FakeHost) -> None:
        super().__init__(host.fleet, host.env, host.entry)
        self.on_lane = True

    def lane(self) -> Host:
        return self
