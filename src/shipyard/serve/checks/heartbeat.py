"""Heartbeat checks: was the push URL called within `every_minutes`?"""

from __future__ import annotations

from shipyard.config.observe import HeartbeatProbe
from shipyard.serve.checks.outcome import Outcome, failed


def judge_heartbeat(probe: HeartbeatProbe, last_beat: float | None, now: float) -> Outcome:
    allowed = probe.every_minutes * 60
    if last_beat is None:
        return failed(f"never called (expected every {probe.every_minutes:g} min)")
    late = now - last_beat
    if late > allowed:
        return failed(
            f"last call {late / 60:.0f} min ago (expected every {probe.every_minutes:g} min)"
        )
    return Outcome(True)
