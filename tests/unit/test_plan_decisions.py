"""Pure decisions of plan/: the switch, retention, leftover and retiring slots, blame,
and HTTP checks. Each is a table: situation -> decision."""

from __future__ import annotations

import pytest

from shipyard.plan.blame import marks_release_bad
from shipyard.plan.checks import judge_response
from shipyard.plan.retention import ReleaseDir, releases_to_remove
from shipyard.plan.slots import due_to_retire, leftover_slots
from shipyard.plan.switching import SwitchPlan, plan_switch
from shipyard.protocol.common import SlotRow
from shipyard.protocol.specs import HttpCheckSpec


@pytest.mark.parametrize(
    ("active", "target", "retreat", "plan"),
    [
        # the first release: nothing to fall back to but itself
        (None, "blue", False, SwitchPlan(noop=False, backup="blue", warm=None)),
        # forward: the slot we leave is known good, nginx's backup, kept warm
        ("blue", "green", False, SwitchPlan(noop=False, backup="blue", warm="blue")),
        # back (rollback, undo): the slot we leave is the suspect, never the backup
        ("green", "blue", True, SwitchPlan(noop=False, backup="blue", warm="green")),
        # already there: nothing changes
        ("blue", "blue", False, SwitchPlan(noop=True, backup="blue", warm=None)),
        ("blue", "blue", True, SwitchPlan(noop=True, backup="blue", warm=None)),
    ],
)
def test_a_switch_chooses_its_backup_by_direction(
    active: str | None, target: str, retreat: bool, plan: SwitchPlan
) -> None:
    assert plan_switch(active, target, retreat=retreat) == plan


@pytest.mark.parametrize(
    ("dirs", "keep", "bad", "protected", "removed"),
    [
        ([("a", 1), ("b", 2), ("c", 3)], 2, set(), set(), ["a"]),
        # a bad release counts last: it goes before an older good one
        ([("a", 1), ("b", 2), ("c", 3)], 2, {"c"}, set(), ["c"]),
        # what a slot runs, or the rollback target, is never removed
        ([("a", 1), ("b", 2), ("c", 3)], 1, set(), {"a"}, ["b"]),
        ([("a", 1)], 5, set(), set(), []),
    ],
)
def test_cleanup_keeps_the_newest_good_releases_and_never_a_protected_one(
    dirs: list[tuple[str, float]],
    keep: int,
    bad: set[str],
    protected: set[str],
    removed: list[str],
) -> None:
    found = [ReleaseDir(name, at) for name, at in dirs]
    assert releases_to_remove(found, keep=keep, bad=bad, protected=protected) == removed


def row(slot: str, state: str, retire_at: float | None = None) -> SlotRow:
    return SlotRow(slot, "r", state, 0.0, retire_at)


@pytest.mark.parametrize(
    ("slots", "active", "leftovers"),
    [
        ({"blue": row("blue", "active"), "green": row("green", "booting")}, "blue", ["green"]),
        ({"blue": row("blue", "active"), "green": row("green", "healthy")}, "blue", ["green"]),
        ({"blue": row("blue", "active"), "green": row("green", "failed")}, "blue", ["green"]),
        # a warm slot is the rollback target; a stopped one is already what repair wants
        ({"blue": row("blue", "active"), "green": row("green", "warm")}, "blue", []),
        ({"blue": row("blue", "active"), "green": row("green", "stopped")}, "blue", []),
        ({"blue": row("blue", "booting")}, None, ["blue"]),
    ],
)
def test_repair_stops_slots_an_interrupted_deploy_left_running(
    slots: dict[str, SlotRow], active: str | None, leftovers: list[str]
) -> None:
    assert leftover_slots(slots, active) == leftovers


def test_a_warm_slot_retires_when_its_window_has_passed_but_never_the_active_one() -> None:
    slots = {"blue": row("blue", "warm", retire_at=100.0), "green": row("green", "active", 50.0)}
    assert due_to_retire(slots, "green", now=99.0) == []
    assert due_to_retire(slots, "green", now=100.0) == ["blue"]
    assert due_to_retire(slots, "blue", now=200.0) == ["green"]
    assert due_to_retire({"blue": row("blue", "warm")}, None, now=1e12) == []


@pytest.mark.parametrize(
    ("phase", "bad"),
    [
        ("connect", False),
        ("repair", False),
        ("inspect", False),
        ("prepare", False),
        ("release-command", True),
        ("boot", True),
        ("check", True),
        ("switch", True),
        ("verify", True),
    ],
)
def test_only_a_release_that_misbehaved_is_marked_bad(phase: str, bad: bool) -> None:
    assert marks_release_bad(phase) is bad


def check(**fields: object) -> HttpCheckSpec:
    values: dict[str, object] = {
        "path": "/x",
        "status": 200,
        "contains": None,
        "json_path": None,
        "equals": None,
    }
    values.update(fields)
    return HttpCheckSpec(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "status", "body", "problem"),
    [
        (check(), 200, "", None),
        (check(), 503, "", "HTTP 503, expected 200"),
        (check(contains="ok"), 200, "all ok", None),
        (check(contains="ok"), 200, "nope", "body does not contain 'ok'"),
        (check(json_path="a.0.b", equals=3), 200, '{"a": [{"b": 3}]}', None),
        (check(json_path="a.0.b", equals=3), 200, '{"a": [{"b": 4}]}', "a.0.b is 4, expected 3"),
        (check(json_path="a.b"), 200, "not json", "no JSON field 'a.b' in the response"),
        (check(json_path="a.b"), 200, '{"a": {}}', "no JSON field 'a.b' in the response"),
    ],
)
def test_an_http_check_judges_status_body_and_json_fields(
    spec: HttpCheckSpec, status: int, body: str, problem: str | None
) -> None:
    assert judge_response(spec, status, body) == problem
