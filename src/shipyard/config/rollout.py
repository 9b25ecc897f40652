"""`rollout`: switch a fleet batch by batch instead of every host at once.

    rollout: {batch: 2}        # two hosts at a time
    rollout: {batch: "25%"}    # a quarter of the hosts at a time (rounded up, at least 1)

Each batch boots, checks, switches, verifies and (with an analysis window) is observed
before the next one starts; the hosts not yet in a batch keep serving the old release.
A failing batch puts every host switched so far back on the old release: the deploy
succeeds or fails as a whole. Without `rollout`, every host is one batch. See
docs/configuration.md ("Rolling deploys") and docs/lifecycle.md.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

_PERCENT = re.compile(r"([0-9]{1,3})%", re.ASCII)


class Rollout(BaseModel):
    """How many hosts switch at a time: a count (`2`) or a share of the fleet (`"25%"`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    batch: int | str

    @field_validator("batch", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError('give a number of hosts (2) or a percentage ("25%"), not true/false')
        return value

    @field_validator("batch")
    @classmethod
    def _count_or_percent(cls, value: int | str) -> int | str:
        if isinstance(value, int):
            if value < 1:
                raise ValueError(f"batch must be at least 1 host, not {value}")
            return value
        match = _PERCENT.fullmatch(value.strip())
        if not match or not 1 <= int(match.group(1)) <= 100:
            raise ValueError(
                f"batch {value!r}: give a number of hosts (2) or a percentage from 1% to "
                '100% ("25%")'
            )
        return f"{int(match.group(1))}%"

    @property
    def percent(self) -> int | None:
        """The share of the fleet per batch, or None for a count of hosts."""
        return int(self.batch.rstrip("%")) if isinstance(self.batch, str) else None
