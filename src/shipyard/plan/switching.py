"""Pure decisions of the traffic switch on one host."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SwitchPlan:
    """What a switch to `target` does, given the slot that serves now.

    noop: the target already serves; nothing changes.
    backup: the slot nginx falls back to when the new one fails a request. Going
    forward it is the slot we leave (still warm, known good); going back (`retreat`: a
    rollback or an undone deploy) the slot we leave is the suspect and never becomes the
    backup, so the target backs itself up.
    warm: the slot left behind, kept running for the rollback window (None: none).
    """

    noop: bool
    backup: str
    warm: str | None


def plan_switch(active: str | None, target: str, *, retreat: bool) -> SwitchPlan:
    if active == target:
        return SwitchPlan(noop=True, backup=target, warm=None)
    backup = target if retreat or active is None else active
    return SwitchPlan(noop=False, backup=backup, warm=active)
