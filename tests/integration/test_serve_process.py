"""`shipyard serve` as a user runs it, against a real local environment deployed by the
real CLI: deploy alerts from the command when serve is not running, then from serve's
deploy watch; the default health check through nginx; heartbeats; /metrics; a restart
that keeps the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.localenv import TOKEN, shutdown
from support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.integration

BEAT_TOKEN = "beat-token-5521"


@dataclass
class World:
    repo: AppRepo
    receiver: Receiver
    serve_port: int
    store: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    path = Path(tempfile.mkdtemp(prefix="sys-", dir="/tmp"))
    path.chmod(0o755)
    with webhook_receiver() as receiver:
        serve_port = free_port()
        config = local_config(
            path / "hosts",
            free_port(),
            secrets={"API_TOKEN": {"from_env": "TEST_TOKEN"}, "BEAT": {"from_env": "BEAT"}},
            alerts={"channels": ["HOOK"]},
            serve={
                "listen": f"127.0.0.1:{serve_port}",
                "store": str(path / "serve.db"),
                "poll_interval": 0.5,
                "secrets": {"HOOK": {"from_env": "SHIPYARD_TEST_HOOK"}},
            },
        )
        config["environments"]["local"]["checks"] = [
            {"name": "health", "path": "/healthz", "interval": 0.5},
            {
                "name": "nightly",
                "kind": "heartbeat",
                "every_minutes": 60,
                "token_secret": "BEAT",
                "interval": 0.5,
            },
        ]
        repo = make_repo(path / "repo", config)
        env = {**TOKEN, "BEAT": BEAT_TOKEN, "SHIPYARD_TEST_HOOK": receiver.json_url()}
        yield World(repo, receiver, serve_port, path / "serve.db", env)
    shutdown(path / "hosts")
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture(scope="module")
def deployed(world: World) -> World:
    done = world.repo.shipyard("deploy", "local", "--message", "first", env=world.env)
    assert done.returncode == 0, done.stderr + done.stdout
    return world


def start_serve(world: World) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "serve", "-c", str(world.repo.config)],
        cwd=world.repo.path,
        env={**os.environ, **world.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"{base(world)}/api/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("serve did not answer")


def stop_serve(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    return out


def base(world: World) -> str:
    return f"http://127.0.0.1:{world.serve_port}"


def wait(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


@dataclass
class Serving:
    world: World
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def serving(deployed: World) -> Iterator[Serving]:
    running = Serving(deployed, start_serve(deployed))
    yield running
    stop_serve(running.process)


@dataclass
class Redeployed:
    serving: Serving
    before: int  # the webhook's posts before this deploy


@pytest.fixture(scope="module")
def redeployed(serving: Serving) -> Redeployed:
    """A second deploy, while serve runs. A fixture, not a step of one test: the tests
    that count two deploys get it whatever runs before them (under `pytest -n`, the
    module's tests are spread over workers, each with a world of its own)."""
    before = len(serving.world.receiver.posts)
    serving.world.repo.commit_version("2.0.0")
    done = serving.world.repo.shipyard("deploy", "local", env=serving.world.env)
    assert done.returncode == 0, done.stderr + done.stdout
    return Redeployed(serving, before)


def test_a_deploy_sends_its_own_alerts_when_no_serve_is_running(deployed: World) -> None:
    titles = [t for t in deployed.receiver.titles()]
    assert len(titles) == 2, titles
    assert titles[0].startswith("[DEPLOYING] local: deploy of ") and titles[0].endswith(" started")
    assert titles[1].startswith("[DEPLOYED] local: deploy of ") and titles[1].endswith(" succeeded")
    body = deployed.receiver.posts[1].fields["message"]
    assert "by " in body and "(first)" in body and "/env/local/deploys/" in body
    assert TOKEN["TEST_TOKEN"] not in body and "json://" not in body


def test_serve_checks_the_health_path_through_nginx(serving: Serving) -> None:
    def health() -> list[dict[str, object]]:
        results = httpx.get(f"{base(serving.world)}/api/checks/local", timeout=5).json()["results"]
        return [r for r in results if r["check"] == "health"]

    wait(lambda: health() and health()[0]["ok"])
    (result,) = health()
    assert (result["host"], result["status"]) == ("local", 200)


def test_a_heartbeat_needs_its_token_and_then_passes(serving: Serving) -> None:
    url = f"{base(serving.world)}/api/heartbeat/local/nightly"
    assert httpx.post(url, timeout=5).status_code == 403
    assert httpx.post(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 403
    assert (
        httpx.post(f"{base(serving.world)}/api/heartbeat/local/other", timeout=5).status_code == 404
    )
    ok = httpx.post(url, headers={"Authorization": f"Bearer {BEAT_TOKEN}"}, timeout=5)
    assert ok.status_code == 200

    def beat_ok() -> bool:
        results = httpx.get(f"{base(serving.world)}/api/checks/local", timeout=5).json()["results"]
        return any(r["check"] == "nightly" and r["ok"] for r in results)

    wait(beat_ok)


def test_checks_runs_every_check_once_from_the_cli(serving: Serving) -> None:
    import json

    done = serving.world.repo.shipyard("checks", "local", "--json", env=serving.world.env)
    assert done.returncode == 0, done.stderr + done.stdout
    results = {r["check"]: r for r in json.loads(done.stdout)["results"]}
    assert (results["health"]["ok"], results["health"]["status"]) == (True, 200)
    assert results["nightly"]["ok"]  # the push above, read from serve's store
    missing = serving.world.repo.shipyard("checks", "nowhere", env=serving.world.env)
    assert missing.returncode == 2 and "no environment named 'nowhere'" in missing.stderr


def test_a_deploy_while_serve_runs_is_alerted_once_by_serve(redeployed: Redeployed) -> None:
    serving, before = redeployed.serving, redeployed.before
    wait(lambda: any(t.startswith("[DEPLOYED]") for t in serving.world.receiver.titles()[before:]))
    time.sleep(1.5)  # three more polls: nothing is sent twice
    new = [t for t in serving.world.receiver.titles()[before:] if " deploy of " in t]
    assert [t.split("]")[0] + "]" for t in new if "succeeded" in t] == ["[DEPLOYED]"]
    assert len(new) <= 2, new  # started (when a poll saw it running) and succeeded, once


def test_metrics_show_checks_uptime_and_deploys(redeployed: Redeployed) -> None:
    serving = redeployed.serving

    def text() -> str:
        return httpx.get(f"{base(serving.world)}/metrics", timeout=5).text

    wait(
        lambda: (
            'shipyard_deploys_total{env="local",kind="deploy",outcome="succeeded"} 2.0' in text()
        )
    )
    body = text()
    assert 'shipyard_check_up{check="health",env="local",host="local"} 1.0' in body
    assert 'shipyard_uptime_ratio{check="health",env="local",window="24h"}' in body
    assert 'shipyard_slo_target_ratio{env="local"} 0.999' in body
    assert 'shipyard_check_latency_seconds{check="health",env="local",host="local"}' in body
    assert "shipyard_deploy_duration_seconds_bucket" in body
    assert 'shipyard_deploy_phase_duration_seconds_count{env="local",phase="switch"} 2.0' in body


def test_a_restart_keeps_the_results_and_the_deploy_mirror(redeployed: Redeployed) -> None:
    serving = redeployed.serving
    wait(
        lambda: any(
            t.startswith("[DEPLOYED]") for t in serving.world.receiver.titles()[redeployed.before :]
        )
    )
    stop_serve(serving.process)
    serving.process = start_serve(serving.world)
    # answered from the store at once, before any new run or poll
    checks = httpx.get(f"{base(serving.world)}/api/checks/local", timeout=5).json()
    assert any(r["check"] == "health" and r["ok"] for r in checks["results"])
    body = httpx.get(f"{base(serving.world)}/metrics", timeout=5).text
    assert 'shipyard_deploys_total{env="local",kind="deploy",outcome="succeeded"} 2.0' in body
    time.sleep(1.5)  # polls after the restart send nothing old again
    assert sum(t.startswith("[DEPLOYED]") for t in serving.world.receiver.titles()) == 2
