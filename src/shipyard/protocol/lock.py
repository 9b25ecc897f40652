"""The environment's deploy lock on the primary host: acquire, refresh, release, status."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.common import (
    LockHolder,
    LockInfo,
)
from shipyard.protocol.op import Empty, Op


@dataclass(frozen=True)
class LockAcquireRequest:
    """Take the environment's lock; a stale deploy lock is taken over, a held one is not
    (unless `force`). `heartbeat` False makes a manual lock that never goes stale."""

    holder: LockHolder
    heartbeat: bool
    force: bool


@dataclass(frozen=True)
class LockAcquireReply:
    acquired: bool
    lock: LockInfo | None  # who keeps it, when not acquired
    taken_over: LockInfo | None  # the stale lock this call took over, if any


@dataclass(frozen=True)
class LockRefreshRequest:
    deployment_id: str


@dataclass(frozen=True)
class LockRefreshReply:
    held: bool  # False: this deployment no longer holds the lock


@dataclass(frozen=True)
class LockReleaseRequest:
    """Release the lock held by `deployment_id` (a manual one: by `actor`), any with force."""

    deployment_id: str | None
    force: bool
    actor: str


@dataclass(frozen=True)
class LockReleaseReply:
    released: LockInfo | None  # what was held; None when nothing was


@dataclass(frozen=True)
class LockStatusReply:
    lock: LockInfo | None


LOCK_ACQUIRE = Op("lock-acquire", LockAcquireRequest, LockAcquireReply)
LOCK_REFRESH = Op("lock-refresh", LockRefreshRequest, LockRefreshReply)
LOCK_RELEASE = Op("lock-release", LockReleaseRequest, LockReleaseReply)
LOCK_STATUS = Op("lock-status", Empty, LockStatusReply)
