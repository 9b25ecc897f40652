"""Operations on the environment's records: hello, the lock, deployments, approvals,
releases. The lock, history and approvals live on the primary host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shipyard.protocol.codec import Json
from shipyard.protocol.common import (
    Deployment,
    DeploymentStart,
    Event,
    Probe,
    ReleaseInfo,
    SlotRow,
)
from shipyard.protocol.op import Empty, Op


@dataclass(frozen=True)
class HelloRequest:
    """First call on every connection: who the operator is."""

    operator_version: str
    protocol: int


@dataclass(frozen=True)
class HelloReply:
    """The agent's versions, and room on the environment's disk. The directory tree is
    created, and socket paths checked against the OS limit, before it answers."""

    version: str
    protocol: int
    python: str
    hostname: str
    free_disk_bytes: int


HELLO = Op("hello", HelloRequest, HelloReply)


@dataclass(frozen=True)
class RecordStartRequest:
    deployment: DeploymentStart


@dataclass(frozen=True)
class RecordUpdateRequest:
    """Update a deployment record; None leaves a field as it is. While not `finished`,
    it also renews the deployment's lock heartbeat."""

    deployment_id: str
    phases: dict[str, float] | None  # merged into the recorded phase durations
    outcome: str | None
    error: str | None
    previous_release_id: str | None
    analysis: Json | None
    checks: Json | None
    finished: bool
    backups: Json | None = None  # the pre-migration backups taken (BackupRecord each)


@dataclass(frozen=True)
class PhaseEvent:
    """A phase starting, passing or failing on one host, as it happens."""

    host: str
    phase: str
    status: str  # start | ok | failed
    detail: str
    at: float  # the operator's clock when it happened (the host logs its own as well)
    # a failure's evidence, already redacted: the last probes, the app's last log lines
    probes: list[Probe]
    log_tail: list[str]


@dataclass(frozen=True)
class RecordProgressRequest:
    """Phase events of a running deployment, for live views (`shipyard serve`)."""

    deployment_id: str
    events: list[PhaseEvent]


RECORD_START = Op("record-start", RecordStartRequest, Empty)
RECORD_UPDATE = Op("record-update", RecordUpdateRequest, Empty)
RECORD_PROGRESS = Op("record-progress", RecordProgressRequest, Empty)


@dataclass(frozen=True)
class HistoryRequest:
    limit: int


@dataclass(frozen=True)
class HistoryReply:
    initialised: bool  # False: nothing was ever deployed to this host
    deployments: list[Deployment]  # newest first


HISTORY = Op("history", HistoryRequest, HistoryReply)


@dataclass(frozen=True)
class EventsRequest:
    after_id: int  # only events newer than this id (0: from the start)
    limit: int
    deployment_id: str | None  # only this deployment's events


@dataclass(frozen=True)
class EventsReply:
    events: list[Event]  # oldest first


EVENTS = Op("events", EventsRequest, EventsReply)


@dataclass(frozen=True)
class Approval:
    release_id: str
    actor: str
    at: float
    note: str


@dataclass(frozen=True)
class ApprovalListRequest:
    release_id: str


@dataclass(frozen=True)
class ApprovalAddRequest:
    release_id: str
    actor: str
    note: str


@dataclass(frozen=True)
class ApprovalsReply:
    approvals: list[Approval]  # oldest first


APPROVAL_LIST = Op("approval-list", ApprovalListRequest, ApprovalsReply)
APPROVAL_ADD = Op("approval-add", ApprovalAddRequest, ApprovalsReply)


@dataclass(frozen=True)
class ReleasesReply:
    """Releases whose directory is on this host, newest first, and the slots."""

    initialised: bool
    releases: list[ReleaseInfo]
    slots: dict[str, SlotRow]
    active_slot: str | None


RELEASES = Op("releases", Empty, ReleasesReply)


@dataclass(frozen=True)
class SetReleaseStatusRequest:
    release_id: str
    status: Literal["good", "bad"]


SET_RELEASE_STATUS = Op("set-release-status", SetReleaseStatusRequest, Empty)
