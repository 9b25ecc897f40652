"""`fleet`: how the operator reaches many hosts at once without being refused.

    fleet: {max_connecting: 8, connect_attempts: 4, retry_backoff: 0.5}

At most `max_connecting` hosts are in their SSH handshake and agent start-up at the same
time (the rest wait their turn); every other operation still runs on all hosts at once.
A handshake that is refused or reset (sshd's `MaxStartups`, a full listen backlog) is
tried again, up to `connect_attempts` in all, after `retry_backoff` seconds, doubling each
time; a failed operation is never retried. See docs/scaling.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    max_connecting: int = Field(default=8, ge=1, le=1000)
    connect_attempts: int = Field(default=4, ge=1, le=20)
    retry_backoff: float = Field(default=0.5, gt=0, le=60)
