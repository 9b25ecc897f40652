"""What alerts say: one formatter for incidents and deploys, whoever sends them."""

from __future__ import annotations

from shipyard.plan.incidents import Change, Incident, Transition
from shipyard.serve.alerts import Alert, AlertKind, format_alert, incident_alert, page_link
from shipyard.serve.events import deploy_alert, deploy_kind

OPENED = 1_796_000_000.0


def incident(**changes: object) -> Incident:
    base = Incident(
        env="production",
        check="home",
        opened_at=OPENED,
        hosts=("deploy@web1", "deploy@web2"),
        evidence="deploy@web1: status 503, 12 ms: HTTP 503, expected 200; deploy@web2: connection refused",
        last_alert_at=OPENED,
    )
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_down_alert_says_what_where_since_the_evidence_and_links_the_check() -> None:
    title, body = format_alert(
        incident_alert(Change(Transition.OPENED, incident()), "https://ops.test", "GET /")
    )
    assert title == "[DOWN] production: check home (GET /) is failing on 2 hosts"
    assert body.splitlines() == [
        "What: check home (GET /) is failing on 2 hosts",
        "Where: production: deploy@web1, deploy@web2",
        "Since: 2026-11-30 00:53:20 UTC (0 s ago)",
        "Evidence:",
        "  deploy@web1: status 503, 12 ms: HTTP 503, expected 200",
        "  deploy@web2: connection refused",
        "Dashboard: https://ops.test/env/production/checks/home",
    ]


def test_a_recovery_says_how_long_it_was_down() -> None:
    resolved = incident(resolved_at=OPENED + 754, last_alert_at=OPENED + 754)
    title, body = format_alert(incident_alert(Change(Transition.RESOLVED, resolved), "http://x"))
    assert title == "[RECOVERED] production: check home has recovered"
    assert "  down for 12 min" in body.splitlines()
    assert "Since: 2026-11-30 00:53:20 UTC (12 min ago)" in body


def test_deploy_outcomes_map_to_their_alert_kinds() -> None:
    assert deploy_kind("deploy", "running") is AlertKind.DEPLOY_STARTED
    assert deploy_kind("promote", "succeeded") is AlertKind.DEPLOY_SUCCEEDED
    assert deploy_kind("deploy", "smoke-failed") is AlertKind.DEPLOY_FAILED
    assert deploy_kind("hotfix", "auto-rolled-back") is AlertKind.DEPLOY_AUTO_ROLLED_BACK
    assert deploy_kind("hotfix", "succeeded") is AlertKind.HOTFIX
    assert deploy_kind("rollback", "running") is AlertKind.ROLLBACK


def test_a_failed_deploy_alert_carries_who_why_how_long_and_the_error() -> None:
    alert = deploy_alert(
        "production",
        deployment_id="d-42",
        kind="deploy",
        outcome="failed",
        release_id="3f2a9c1b7d0e",
        commit="abcdef1234567890",
        actor="ana",
        message="fix cart",
        hosts=["web1"],
        started_at=OPENED,
        finished_at=OPENED + 95,
        error="web1 check: unhealthy",
        base_url="http://dash",
    )
    title, body = format_alert(alert)
    assert title == "[DEPLOY FAILED] production: deploy of 3f2a9c1b7d0e failed"
    assert body.splitlines()[3:] == [
        "Evidence:",
        "  by ana (fix cart)",
        "  commit abcdef123456",
        "  took 95 s",
        "  error: web1 check: unhealthy",
        "Dashboard: http://dash/env/production/deploys/d-42",
    ]


def test_links_point_at_the_environment_check_or_deployment() -> None:
    assert page_link("http://d/", "prod") == "http://d/env/prod"
    assert page_link("http://d", "prod", deploy="x") == "http://d/env/prod/deploys/x"
    plain = format_alert(Alert(AlertKind.TEST, "prod", "test", "prod", OPENED, at=OPENED))[1]
    assert "Evidence" not in plain and "Dashboard" not in plain
