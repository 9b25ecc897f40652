"""Backup incidents: a source overdue for its backup is one open incident (alerted once)
until a backup arrives (the recovery), whatever how often serve reads the freshness."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shipyard.plan.backup import SourceFreshness


def incident_key(env: str, source: str) -> str:
    """What identifies one backup incident (also written in its alert's evidence)."""
    return f"backup:{env}:{source}"


@dataclass(frozen=True)
class BackupChanges:
    opened: list[SourceFreshness]  # overdue now, no incident open: alert
    resolved: list[SourceFreshness]  # an incident open, backed up now: recovery


def backup_changes(
    env: str, freshness: Sequence[SourceFreshness], open_keys: Iterable[str]
) -> BackupChanges:
    """What changed for `env`'s sources given the keys of the incidents open now. A
    source no longer configured closes silently (the caller forgets its key)."""
    open_now = set(open_keys)
    opened = [s for s in freshness if s.stale and incident_key(env, s.source) not in open_now]
    resolved = [s for s in freshness if not s.stale and incident_key(env, s.source) in open_now]
    return BackupChanges(opened, resolved)
