"""The serve store keeps the same data the same way in SQLite and in a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.postgres import PgServer, postgres_server
from support.serve_store import STORE_KINDS, opened_store

from shipyard.plan.check_results import CheckResult
from shipyard.plan.incidents import Incident
from shipyard.serve.store import MIGRATIONS, AlertSent, ResourceSample, Store, StoreError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with opened_store(request, tmp_path, "serve") as opened:
        yield opened


def result(at: float, ok: bool = True, host: str = "web1", check: str = "health") -> CheckResult:
    return CheckResult(
        env="production",
        check=check,
        host=host,
        at=at,
        ok=ok,
        latency_ms=12.5,
        status=200 if ok else 503,
        error="" if ok else "status 503",
    )


def test_check_results_come_back_oldest_first_within_the_window_asked(store: Store) -> None:
    store.add_results([result(10.0), result(20.0, ok=False), result(30.0), result(40.0)])
    got = store.results("production", "health", since=20.0, until=40.0)
    assert [(r.at, r.ok, r.status, r.error) for r in got] == [
        (20.0, False, 503, "status 503"),
        (30.0, True, 200, ""),
    ]
    assert [r.at for r in store.results("production", limit=2)] == [30.0, 40.0]


def test_latest_results_are_the_newest_of_each_check_on_each_host(store: Store) -> None:
    store.add_results(
        [result(1.0), result(2.0, ok=False), result(1.5, host="web2"), result(3.0, check="tls")]
    )
    latest = store.latest_results("production")
    assert [(r.check, r.host, r.at) for r in latest] == [
        ("health", "web1", 2.0),
        ("health", "web2", 1.5),
        ("tls", "web1", 3.0),
    ]


def test_an_incident_gets_an_id_and_is_resolved_in_place(store: Store) -> None:
    opened = store.save_incident(
        Incident(
            env="production",
            check="health",
            opened_at=100.0,
            hosts=("web1", "web2"),
            evidence="status 503",
        )
    )
    assert opened.id is not None
    assert store.open_incidents("production") == [opened]
    from dataclasses import replace

    store.save_incident(replace(opened, resolved_at=200.0, last_alert_at=150.0))
    assert store.open_incidents() == []
    (closed,) = store.incidents("production", since=150.0)
    assert (closed.resolved_at, closed.last_alert_at, closed.hosts) == (
        200.0,
        150.0,
        ("web1", "web2"),
    )
    assert store.incidents("production", since=250.0) == []


def test_a_heartbeat_keeps_only_its_newest_push(store: Store) -> None:
    assert store.last_beat("production", "nightly") is None
    store.beat("production", "nightly", 5.0)
    store.beat("production", "nightly", 9.0)
    assert store.last_beat("production", "nightly") == 9.0


def test_deploy_records_are_mirrored_per_host_and_replaced_by_newer_copies(store: Store) -> None:
    store.mirror_deploys("production", "web1", {"d1": '{"outcome": "running"}'})
    store.mirror_deploys("production", "web1", {"d1": '{"outcome": "ok"}', "d2": "{}"})
    assert store.mirrored_deploys("production") == {"d1": '{"outcome": "ok"}', "d2": "{}"}
    assert store.mirrored_envs() == ["production"]


def test_resources_confidence_and_alerts_round_trip(store: Store) -> None:
    sample = ResourceSample("production", "web1", 7.0, 12.5, 0.3, 100, 400, '[{"mount": "/"}]')
    store.add_resource_sample(sample)
    assert store.resource_samples("production", "web1") == [sample]
    store.add_confidence("production", "ana", 8.0, 9)
    assert store.confidence("production") == [("ana", 8.0, 9)]
    store.record_alert(AlertSent(9.0, "check_down", "production", "down", "body"))
    (sent,) = store.alerts(env="production")
    assert (sent.kind, sent.subject) == ("check_down", "down")


def test_opening_a_store_again_keeps_its_data_and_applies_no_migration_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "serve.db"
    first = Store.open(path)
    first.add_results([result(1.0)])
    first.close()
    again = Store.open(path)
    assert again.schema_version() == len(MIGRATIONS)
    assert len(again.results("production")) == 1
    again.close()
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM schema_migrations").fetchone()
    assert rows == (len(MIGRATIONS),)


def test_an_unreachable_postgresql_is_an_error_that_hides_the_password() -> None:
    with pytest.raises(StoreError) as raised:
        Store.open("postgresql://serve:hunter2@127.0.0.1:9/serve")
    assert "hunter2" not in str(raised.value)
    assert "serve:***@127.0.0.1:9" in str(raised.value)
