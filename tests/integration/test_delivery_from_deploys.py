"""Delivery metrics, host resources and serve's resource sampler from real local deploys
(real nginx, supervisord)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.localenv import shutdown

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.alerts import Alert, Alerter, AlertKind
from shipyard.serve.context import ServeContext
from shipyard.serve.live import LiveDeploys
from shipyard.serve.resources import ResourceSampler
from shipyard.serve.store import ResourceSample, Store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shipped() -> Iterator[tuple[AppRepo, Path]]:
    """deploy 1.0.0, deploy 2.0.0, roll back, hotfix 3.0.0: one environment's history."""
    env_dir = Path(tempfile.mkdtemp(prefix="sym-", dir="/tmp"))
    env_dir.chmod(0o755)
    config = local_config(env_dir / "hosts", free_port())
    config["metrics"] = {"hands_on_baseline_minutes": 60, "host_prices": {"local": 12.0}}
    repo = make_repo(env_dir / "repo", config)
    try:
        steps = [
            ("deploy", "local"),
            ("version", "2.0.0"),
            ("deploy", "local"),
            ("rollback", "local"),
            ("version", "3.0.0"),
            ("hotfix", "local", "--ref", "HEAD", "--reason", "2.0.0 lost invoices"),
        ]
        for step in steps:
            if step[0] == "version":
                repo.commit_version(step[1])
                continue
            result = repo.shipyard(*step)
            assert result.returncode == 0, result.stderr + result.stdout
        yield repo, env_dir / "hosts"
    finally:
        shutdown(env_dir / "hosts")
        subprocess.run(["rm", "-rf", str(env_dir)], check=False)


def test_metrics_count_the_deploys_the_rollback_and_the_hotfix_of_real_records(
    shipped: tuple[AppRepo, Path],
) -> None:
    repo, _ = shipped
    result = repo.shipyard("metrics", "local", "--since", "1d", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    history = json.loads(repo.shipyard("history", "local", "--json").stdout)
    by_kind = {h["kind"]: h for h in history}
    deploys = [h for h in reversed(history) if h["kind"] == "deploy"]
    # three changes reached production: two deploys and the hotfix
    assert report["deployment_frequency"]["counted"] == 3
    # the second deploy was rolled back: one of three failed
    assert report["change_failure_rate"]["value"] == pytest.approx(1 / 3)
    assert report["change_failure_rate"]["records"] == [deploys[1]["id"]]
    assert report["rework_rate"]["records"] == [by_kind["hotfix"]["id"]]
    # every record carries the commit time taken at build: all three have a lead time
    assert report["lead_time"]["counted"] == 3
    assert report["lead_time"]["level"] == "elite"
    assert report["recovery_time"]["counted"] == 1
    assert report["recovery_time"]["level"] == "elite"
    targets = {t["name"]: t for t in report["targets"]}
    assert targets["deploys without rollback"]["value"] == pytest.approx(2 / 3)
    assert targets["emergency response time (longest)"]["met"] is True
    assert targets["hands-on time reduction"]["counted"] == 4
    assert report["hands_on"]["baseline_minutes"] == 60
    assert len(history) == 4

    table = repo.shipyard("metrics", "local")
    assert table.returncode == 0, table.stderr
    assert "change failure rate" in table.stdout and "33.3 %" in table.stdout


def test_a_window_in_the_wrong_form_is_a_usage_error(shipped: tuple[AppRepo, Path]) -> None:
    repo, _ = shipped
    result = repo.shipyard("metrics", "local", "--since", "a month")
    assert result.returncode == 2
    assert "30d" in result.stderr


def test_the_resources_operation_reports_the_active_slots_processes(
    shipped: tuple[AppRepo, Path],
) -> None:
    _, root = shipped
    request = {"root": str(root), "app": "reconcile", "env": "local"}
    request |= {"sample_seconds": 0.2, "mounts": []}
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.host", "resources"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=False,
    )
    reply = json.loads(result.stdout)
    assert reply["ok"], reply
    assert reply["mem_total"] > reply["mem_used"] > 0
    assert 0 <= reply["cpu_pct"] <= 100
    assert any(d["mount"] == "/" and d["total"] > d["free"] > 0 for d in reply["disks"])
    slots = {s["slot"]: s for s in reply["slots"]}
    active = next(s for s in slots.values() if s["active"])
    web = next(p for p in active["programs"] if p["program"].startswith("web-"))
    assert web["rss_bytes"] > 1_000_000
    assert web["cpu_pct"] is not None and web["cpu_pct"] >= 0


def test_the_sampler_stores_each_hosts_resources_and_alerts_a_filling_disk_once(
    shipped: tuple[AppRepo, Path], tmp_path: Path
) -> None:
    repo, _ = shipped
    store = Store.open(tmp_path / "serve.db")
    ctx = ServeContext(
        config=ShipyardConfig.load(repo.config),
        config_path=repo.config,
        store=store,
        base_url="http://127.0.0.1:8400",
        live=LiveDeploys(),
    )
    sent: list[Alert] = []
    sampler = ResourceSampler(ctx, sent.append)
    (row,) = asyncio.run(sampler.sample("local"))
    assert row.host == "local" and row.mem_total and row.cpu_pct is not None
    assert any(d["mount"] == "/" for d in json.loads(row.disks_json))
    slots = json.loads(row.slots_json)
    assert any(s["active"] and s["programs"] for s in slots)
    assert store.resource_samples("local") == [row]

    # a disk that filled 10 GiB a day for two days, with 5 GiB left: full in half a day
    now = time.time()
    gib = 2**30
    for hours_ago, free in ((48, 25), (24, 15), (0, 5)):
        disk = {"mount": "/srv", "total": 100 * gib, "used": (100 - free) * gib}
        store.add_resource_sample(
            ResourceSample(
                "local", "local", now - hours_ago * 3600, 1.0, 0.1, 1, 10,
                json.dumps([disk | {"free": free * gib}]), "[]",
            )
        )  # fmt: skip
    first = sampler.alert("local", now)
    assert [a.kind for a in first] == [AlertKind.DISK_FORECAST]
    assert "/srv on local full in 0.5 days" in first[0].what
    assert sampler.alert("local", now + 60) == []  # once per condition
    # a restarted serve finds what was sent in the store and stays quiet
    Alerter([], store).send_blocking(first[0])
    assert ResourceSampler(ctx, sent.append).alert("local", now + 120) == []
    store.close()
