"""The store counts check results in slices for the dashboard's charts the same way in
SQLite and in a real PostgreSQL, and as the charts' reference definition does."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.dashboard import bucket_results
from support.postgres import PgServer, postgres_server
from support.serve_store import STORE_KINDS, opened_store

from shipyard.plan.check_results import CheckResult
from shipyard.serve.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with opened_store(request, tmp_path, "dashboard") as opened:
        yield opened


def test_check_buckets_count_each_slice_per_check_and_host_like_the_reference(
    store: Store,
) -> None:
    rng = random.Random(3)
    rows = [
        CheckResult(
            "production",
            rng.choice(["health", "api"]),
            rng.choice(["web1", "web2"]),
            rng.uniform(-50, 1050),
            ok := rng.random() > 0.2,
            rng.uniform(1, 90) if ok else None,
            maintenance=rng.random() < 0.1,
        )
        for _ in range(2000)
    ]
    store.add_results([*rows, CheckResult("staging", "health", "web1", 10.0, False)])
    got = store.check_buckets("production", 0.0, 1000.0, 7)
    want = bucket_results(
        [(r.check, r.host, r.at, r.ok, r.latency_ms, r.maintenance) for r in rows],
        since=0.0,
        until=1000.0,
        count=7,
    )
    assert [(b.check, b.host, b.index, b.results, b.maintenance, b.ok) for b in got] == [
        (b.check, b.host, b.index, b.results, b.maintenance, b.ok) for b in want
    ]
    for mine, theirs in zip(got, want, strict=True):
        assert mine.latency_ms == pytest.approx(theirs.latency_ms)


def test_the_newest_result_of_a_check_is_the_latest_in_time(store: Store) -> None:
    store.add_results(
        [
            CheckResult("production", "health", "web2", 30.0, False),
            CheckResult("production", "health", "web1", 20.0, True),
            CheckResult("production", "api", "web1", 40.0, True),
        ]
    )
    newest = store.newest_result("production", "health")
    assert newest is not None and (newest.host, newest.at, newest.ok) == ("web2", 30.0, False)
    assert store.newest_result("production", "nope") is None
