"""Pure: may a release go to an environment that requires another one first?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.protocol.common import Deployment, ReleaseInfo


@dataclass(frozen=True)
class PromotionVerdict:
    allowed: bool
    reasons: list[str]
    evidence: dict[str, Any] | None  # the successful deployment on the required environment


def passed_required(
    release_id: str,
    required_env: str,
    history: list[Deployment],
    releases: list[ReleaseInfo],
    soak: float,
    now: float,
) -> PromotionVerdict:
    """Did `release_id` pass `required_env`?

    Passed means: a deployment of it there succeeded (health, post-switch analysis and
    smoke tests all passed, or it would not have), it is not marked bad there since, and
    it has been live there for at least `soak` seconds.
    """
    status = next((r.status for r in releases if r.release_id == release_id), None)
    good = [
        d
        for d in history
        if d.release_id == release_id
        and d.outcome == "succeeded"
        and d.kind in ("deploy", "promote", "hotfix")
    ]
    if not good:
        tried = [d.outcome for d in history if d.release_id == release_id]
        why = (
            f"its deployments to {required_env} ended {', '.join(tried)}"
            if tried
            else f"it was never deployed to {required_env}"
        )
        return PromotionVerdict(
            False, [f"release {release_id} has not passed {required_env}: {why}"], None
        )
    if status == "bad":
        return PromotionVerdict(
            False, [f"release {release_id} is marked bad on {required_env}"], None
        )
    first = min(good, key=lambda d: d.finished_at or now)
    live_for = now - (first.finished_at or now)
    evidence = {
        "environment": required_env,
        "deployment_id": first.id,
        "reached_at": first.finished_at,
        "live_for_seconds": round(live_for, 1),
    }
    if live_for < soak:
        return PromotionVerdict(
            False,
            [
                f"release {release_id} has soaked on {required_env} for {live_for:.0f}s "
                f"of the {soak:.0f}s required"
            ],
            evidence,
        )
    return PromotionVerdict(True, [], evidence)
