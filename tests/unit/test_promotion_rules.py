"""Pure promotion rules: what counts as having passed the required environment."""

from __future__ import annotations

import pytest
from support import records

from shipyard.plan.checks import dig
from shipyard.plan.promotion import passed_required
from shipyard.protocol.common import Deployment


def deployment(
    release: str, outcome: str, finished_at: float | None = 100.0, kind: str = "deploy"
) -> Deployment:
    return records.deployment(release, outcome, finished_at=finished_at, kind=kind)


def test_a_release_that_succeeded_on_staging_may_go_on() -> None:
    verdict = passed_required("r1", "staging", [deployment("r1", "succeeded")], [], soak=0, now=200)
    assert verdict.allowed and verdict.evidence is not None
    assert verdict.evidence["reached_at"] == 100.0 and verdict.evidence["live_for_seconds"] == 100.0


def test_a_release_never_deployed_or_that_failed_is_refused_with_what_happened() -> None:
    never = passed_required("r1", "staging", [], [], soak=0, now=200)
    assert not never.allowed and "never deployed to staging" in never.reasons[0]
    failed = passed_required(
        "r1",
        "staging",
        [deployment("r1", "auto-rolled-back"), deployment("r1", "failed")],
        [],
        0,
        200,
    )
    assert not failed.allowed and "auto-rolled-back, failed" in failed.reasons[0]


def test_a_release_marked_bad_after_it_succeeded_is_refused() -> None:
    verdict = passed_required(
        "r1",
        "staging",
        [deployment("r1", "succeeded")],
        [records.release("r1", "bad")],
        0,
        200,
    )
    assert not verdict.allowed and "marked bad" in verdict.reasons[0]


def test_soak_time_counts_from_the_first_success() -> None:
    history = [
        deployment("r1", "succeeded", finished_at=150.0),
        deployment("r1", "succeeded", finished_at=100.0),
    ]
    assert not passed_required("r1", "staging", history, [], soak=120, now=200).allowed
    assert passed_required("r1", "staging", history, [], soak=100, now=200).allowed


def test_json_paths_follow_keys_and_list_indexes() -> None:
    document = {"data": {"items": [{"id": 7}]}, "status": "ok"}
    assert dig(document, "status") == "ok"
    assert dig(document, "data.items.0.id") == 7
    with pytest.raises(KeyError):
        dig(document, "data.items.3.id")
