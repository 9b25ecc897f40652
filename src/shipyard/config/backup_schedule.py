"""What `backup.schedule:` in shipyard.yml may say: how often backups run on their own,
and how often the repository is checked (with a restore of the newest snapshots), by
systemd timers on the primary or by `shipyard serve`."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

SUBSET = re.compile(r"^(100|[1-9][0-9]?)(\.[0-9]+)?%$")


class BackupSchedule(BaseModel):
    """every: seconds between scheduled backups (default daily). check_every: seconds
    between scheduled verifies (`restic check --read-data-subset=check_subset`, then the
    newest snapshot of each source restored into scratch and checked; default weekly).
    unit_dir: where `backup schedule install` writes the systemd units on the primary;
    unset, the host decides (`plan.schedule.unit_target`): /etc/systemd/system when
    Shipyard runs there as root, else the deploy user's ~/.config/systemd/user."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    enabled: bool = True
    every: float = Field(default=86400.0, ge=300, le=31 * 86400)
    check_every: float = Field(default=7 * 86400.0, ge=3600, le=366 * 86400)
    check_subset: str = "10%"
    unit_dir: str | None = None

    @field_validator("check_subset")
    @classmethod
    def _subset(cls, value: str) -> str:
        if not SUBSET.match(value):
            raise ValueError("write a percentage of the pack files, e.g. '10%' or '2.5%'")
        return value

    @field_validator("unit_dir")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith("/") or ".." in value.split("/"):
            raise ValueError("unit_dir must be an absolute path on the host")
        return value
