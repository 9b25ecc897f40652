"""The incident machine: one incident per check across hosts, reminders, resolution."""

from __future__ import annotations

from shipyard.plan.check_results import CheckResult
from shipyard.plan.incidents import CheckState, Policy, Transition, describe, resume, step

POLICY = Policy(fail_after=3, resolve_after=2, remind_every=600)


def round_of(at: float, **hosts: bool) -> list[CheckResult]:
    return [
        CheckResult("prod", "health", host, at, ok, 5.0, 200 if ok else 503, "" if ok else "down")
        for host, ok in hosts.items()
    ]


def run(
    rounds: list[list[CheckResult]], policy: Policy = POLICY
) -> list[tuple[float, str, tuple[str, ...]]]:
    state, said = CheckState(), []
    for results in rounds:
        state, changes = step(state, results, policy, results[0].at)
        said += [
            (
                c.incident.opened_at if c.transition is Transition.OPENED else results[0].at,
                c.transition.value,
                c.incident.hosts,
            )
            for c in changes
        ]
    return said


def test_an_incident_opens_on_the_third_failure_in_a_row_and_not_before() -> None:
    rounds = [round_of(t, web1=False) for t in (0, 60)]
    assert run(rounds) == []
    assert run([*rounds, round_of(120, web1=False)]) == [(120, "opened", ("web1",))]


def test_a_success_between_failures_starts_the_count_again() -> None:
    flapping = [round_of(t, web1=t % 120 != 0) for t in range(0, 600, 60)]
    assert (
        run(
            [
                round_of(t, web1=ok)
                for t, ok in ((0, False), (60, False), (120, True), (180, False), (240, False))
            ]
        )
        == []
    )
    assert run(flapping) == []


def test_hosts_failing_together_share_one_incident_that_lists_them_all() -> None:
    rounds = [round_of(t, web1=False, web2=t > 0) for t in (0, 60, 120)]
    rounds += [round_of(t, web1=False, web2=False) for t in (180, 240, 300)]
    said = run(rounds)
    assert [what for _, what, _ in said] == ["opened"]
    state = CheckState()
    for results in rounds:
        state, _ = step(state, results, POLICY, results[0].at)
    assert state.incident is not None and state.incident.hosts == ("web1", "web2")


def test_it_resolves_after_two_successes_on_every_host() -> None:
    down = [round_of(t, web1=False, web2=False) for t in (0, 60, 120)]
    partial = [round_of(180, web1=True, web2=False), round_of(240, web1=True, web2=True)]
    up = [round_of(300, web1=True, web2=True)]
    assert [w for _, w, _ in run(down + partial)] == ["opened"]
    assert [(t, w) for t, w, _ in run(down + partial + up)] == [(120, "opened"), (300, "resolved")]


def test_reminders_come_at_the_interval_while_it_stays_down() -> None:
    rounds = [round_of(t, web1=False) for t in range(0, 1500, 60)]
    said = run(rounds)
    assert [(t, w) for t, w, _ in said] == [(120, "opened"), (720, "reminder"), (1320, "reminder")]


def test_no_reminders_when_the_interval_is_zero() -> None:
    rounds = [round_of(t, web1=False) for t in range(0, 3000, 60)]
    assert [w for _, w, _ in run(rounds, Policy(3, 2, 0))] == ["opened"]


def test_results_in_maintenance_open_nothing_and_say_nothing() -> None:
    quiet = [
        [CheckResult("prod", "health", "web1", t, False, maintenance=True)]
        for t in range(0, 600, 60)
    ]
    assert run(quiet) == []
    # and failures either side of a window do not add up across it
    edges = [round_of(0, web1=False), round_of(60, web1=False), *quiet, round_of(700, web1=False)]
    assert run(edges) == []


def test_after_a_restart_the_streaks_come_from_the_stored_history() -> None:
    history = round_of(0, web1=True) + round_of(60, web1=False) + round_of(120, web1=False)
    state = resume(history, None)
    state, changes = step(state, round_of(180, web1=False), POLICY, 180)
    assert [c.transition for c in changes] == [Transition.OPENED]


def test_evidence_says_host_status_latency_and_error() -> None:
    result = CheckResult("prod", "health", "web1", 0, False, 12.4, 503, "body lacks 'Welcome'")
    assert describe(result) == "web1: status 503, 12 ms: body lacks 'Welcome'"
    assert (
        describe(CheckResult("prod", "db", "-", 0, False, error="connection refused"))
        == "connection refused"
    )
