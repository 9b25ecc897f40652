"""Values several host operations carry: probes, health rules, proxy settings, records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shipyard.protocol.codec import Json

ListenMode = Literal["socket", "tcp"]
SlotName = Literal["blue", "green"]


@dataclass(frozen=True)
class Probe:
    """One HTTP probe of a slot or of nginx."""

    url: str
    at: float  # unix time
    elapsed_ms: float
    status: int | None  # None: no answer (see `error`)
    error: str | None
    release: str | None  # the release header's value, if the response had one

    def describe(self) -> str:
        outcome = f"HTTP {self.status}" if self.status is not None else f"error: {self.error}"
        return f"GET {self.url} -> {outcome} in {self.elapsed_ms:.0f} ms"


@dataclass(frozen=True)
class SlotRow:
    """A slot as the host's state records it."""

    slot: str
    release_id: str | None
    state: str  # stopped | booting | healthy | active | warm | failed
    started_at: float | None
    retire_at: float | None


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's deploy lock."""

    actor: str
    operator_host: str
    pid: int
    reason: str
    command: str
    deployment_id: str | None
    acquired_at: float
    heartbeat_at: float | None  # None: a manual lock, never stale
    stale: bool


@dataclass(frozen=True)
class LockHolder:
    """Who asks for the lock."""

    actor: str
    operator_host: str
    pid: int
    reason: str
    command: str
    deployment_id: str | None


@dataclass(frozen=True)
class ReleaseManifest:
    """What a release is: written into the release directory and the host's state."""

    release_id: str
    commit: str
    commit_time: str
    ref: str
    built_at: str
    builder: str
    dirty: bool
    gates: Json | None  # the quality-gate report the release passed, if gates ran


@dataclass(frozen=True)
class ReleaseInfo:
    """A release prepared on a host."""

    release_id: str
    digest: str
    manifest: ReleaseManifest
    prepared_at: float
    status: Literal["prepared", "good", "bad"]
    # what it runs with here (config.runtime.RuntimeSpec as JSON; never secret values);
    # None for a release prepared by a Shipyard that did not record it
    runtime: Json | None = None


@dataclass(frozen=True)
class DeploymentStart:
    """The record a deploy, promotion, hotfix or rollback opens on the primary."""

    id: str
    kind: Literal["deploy", "promote", "hotfix", "rollback"]
    release_id: str
    previous_release_id: str | None
    commit_sha: str | None
    commit_time: str | None
    trigger: str  # manual | ci | hotfix | rollback | auto-rollback
    actor: str
    message: str
    hosts: list[str]
    started_at: float
    promoted_from: Json | None
    # where what runs came from: {"source": release | working-tree | recorded,
    # "digest": the spec's fingerprint, "differs": keys the working tree has otherwise}
    runtime: Json | None = None


@dataclass(frozen=True)
class Deployment:
    """One deployment record from the primary's history."""

    id: str
    kind: str
    release_id: str
    previous_release_id: str | None
    commit_sha: str | None
    commit_time: str | None
    trigger: str
    actor: str
    message: str | None
    hosts: list[str]
    started_at: float
    finished_at: float | None
    outcome: str  # running | succeeded | failed | auto-rolled-back | smoke-failed | interrupted
    error: str | None
    phases: dict[str, float]
    analysis: Json | None
    checks: Json | None
    promoted_from: Json | None
    runtime: Json | None = None  # as in DeploymentStart; None in older records
    backups: Json | None = None  # pre-migration backups: [{snapshot_id, source, ...}]


@dataclass(frozen=True)
class Traffic:
    """What the new release did with real requests in one interval on one host."""

    requests: int
    errors: int  # 5xx answered by the new slot
    fallbacks: int  # requests nginx had to send to the old slot (the new one failed them)
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class Event:
    """One entry of the host's event log (switches, locks, phases as they happen)."""

    id: int
    at: float
    deployment_id: str | None
    kind: str
    detail: Json
