"""A release that passes its health check and then goes bad once it takes traffic:
errors, slowness, a crash loop. The post-switch analysis (`observe`) must notice and put
every host back on the old release, marking the new one bad.

The bad releases are the example app behind a small wrapper (sabotage.py, committed with
the app) that behaves until the first request arrives through nginx (nginx adds
X-Forwarded-For; Shipyard's health checks on the slot's own socket do not), and goes bad
`grace` seconds later.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from support.apprepo import free_port
from support.faults import FaultEnv, first_deploy, output, release_of
from support.load import Load

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OBSERVE = {"window": 4, "interval": 0.5, "max_error_ratio": 0.05, "failure_limit": 2}

SABOTAGE = '''\
"""The example app, going bad once it is live (a fault-injection test fixture)."""

import json
import os
import sys
import threading
import time
from pathlib import Path

import app

SETTINGS = json.loads((Path(__file__).parent / "sabotage.json").read_text())
MODE, GRACE = SETTINGS["mode"], SETTINGS["grace"]
CRASHED = Path(SETTINGS["marker"])  # crash mode: exists once this release has crashed
live_since = []


def bad() -> bool:
    return bool(live_since) and time.monotonic() - live_since[0] >= GRACE


def crash() -> None:
    CRASHED.touch()
    os._exit(1)


def wrap(route):
    def handle(handler):
        if handler.headers.get("X-Forwarded-For") and not live_since:
            live_since.append(time.monotonic())
            if MODE == "crash":
                threading.Timer(GRACE, crash).start()
        if bad() and MODE == "error":
            return app.json_response(500, {"error": "sabotaged"})
        if bad() and MODE == "slow":
            time.sleep(SETTINGS["slow"])
        return route(handler)

    return handle


for methods in app.ROUTES.values():
    for method, route in list(methods.items()):
        methods[method] = wrap(route)

if MODE == "crash" and CRASHED.exists():
    time.sleep(0.5)  # restarted after the crash: the crash loop goes on
    sys.exit(1)
sys.exit(app.main())
'''


def deploy_going_bad(env: FaultEnv, mode: str, **observe: Any) -> tuple[str, Any, Any, float]:
    """Deploy 1.0.0, then a release that goes bad in `mode` once live, under load.
    Returns (old release id, the bad deploy's result, the load, when it ended)."""
    old = first_deploy(env)
    settings = {"mode": mode, "grace": 1.0, "slow": 1.0, "marker": str(env.home / "crashed")}
    (env.repo.path / "sabotage.py").write_text(SABOTAGE)
    (env.repo.path / "sabotage.json").write_text(json.dumps(settings))
    env.configure(
        lambda data: data.update(start="python3 sabotage.py", observe=OBSERVE | observe),
        f"goes bad once live: {mode}; the analysis is on",
    )
    env.commit_version("2.0.0")
    with Load(*env.urls, timeout=10) as load:
        result = env.deploy()
        ended = time.time()
        load.wait_for(90)  # and a second and a half afterwards
    return old, result, load, ended


def assert_rolled_back(
    env: FaultEnv,
    old: str,
    result: Any,
    load: Any,
    ended: float,
    *,
    says: str,
    analyse_next: bool = False,
) -> None:
    assert result.returncode == 1, output(result)
    assert "observe" in result.stdout, output(result)
    assert says in result.stderr, output(result)
    bad = release_of(result)
    # every request after the deploy ended was answered by the old release
    after = [s for s in load.samples if s.at > ended + 0.5]
    assert after and all(s.ok and s.release == old for s in after), load.report()
    env.assert_serving("1.0.0", old)
    status = env.assert_consistent(old)
    newest = status["last_deployment"]
    assert (newest["release_id"], newest["outcome"]) == (bad, "auto-rolled-back"), newest
    assert {r["release_id"]: r["status"] for r in env.releases()}[bad] == "bad"

    (env.repo.path / "sabotage.py").unlink()
    (env.repo.path / "sabotage.json").unlink()
    # a release that behaves passes the analysis (when `analyse_next`; it takes a while)
    observe = OBSERVE if analyse_next else {"window": 0}
    env.configure(
        lambda data: data.update(start="python3 app.py", observe=observe), "behaves again"
    )
    env.commit_version("3.0.0")
    result = env.deploy()
    assert result.returncode == 0, output(result)
    assert ("observe ok" in result.stdout) == analyse_next, output(result)
    env.assert_serving("3.0.0", release_of(result))


def test_a_release_answering_500s_after_the_switch_is_rolled_back_automatically(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old, result, load, ended = deploy_going_bad(env, "error")
    assert_rolled_back(env, old, result, load, ended, says="error ratio", analyse_next=True)
    assert {s.status for s in load.failed} <= {500}, load.report()


def test_a_release_turning_slow_after_the_switch_is_rolled_back_automatically(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old, result, load, ended = deploy_going_bad(env, "slow", max_p95_ms=300)
    assert_rolled_back(env, old, result, load, ended, says="p95 latency")
    assert not load.failed, load.report()  # slow, but answered


def test_a_release_crash_looping_after_the_switch_is_rolled_back_automatically(
    local_env: FaultEnv,
) -> None:
    env = local_env
    old, result, load, ended = deploy_going_bad(env, "crash")
    assert_rolled_back(env, old, result, load, ended, says="failed its post-switch analysis")
    assert (env.home / "crashed").exists()  # it did crash


def test_in_tcp_mode_the_old_slot_answers_what_a_release_answering_500s_fails(
    local_env: FaultEnv,
) -> None:
    env = local_env
    ports = [free_port(), free_port()]
    env.configure(lambda data: data.update(listen_mode="tcp", ports=ports), "tcp mode")
    old, result, load, ended = deploy_going_bad(env, "error")
    assert_rolled_back(env, old, result, load, ended, says="error ratio")
    # nginx passed every 500 of the bad release to the old slot, its backup, as in socket mode
    assert not load.failed, load.report()
