"""The live view of a deploy over SSH: phases per host as they happen, and a failure's
probes and log lines, secret-redacted.

One real sshd test host (127.0.0.61) with its own nginx and supervisord; the dashboard
runs in this process on a free loopback port and is read through its JSON API, as a
script or the live page would. The slow phase is CHECK: its pre-switch command waits
until this test has seen the phase running on the live API (the file `go`), so the
phase cannot have ended before it was shown: the order proves it, no clock is read.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support.apprepo import AppRepo, free_port, make_repo
from support.dashboard import Context, MemoryStore
from support.dashboard_server import serving
from support.sshapp import host_entry, open_to_nginx, shut_down, ssh_settings
from support.sshd import SshFleet, TestHost

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.live import LiveDeploys
from shipyard.serve.web import auth
from shipyard.serve.web.app import AuthSettings, create_app

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.61"
SECRET = "live-s3cret-4242"  # the app's API_TOKEN, and the health check's key
TOKEN = "dashboard-token-for-the-live-test"
WAIT = 90.0  # seconds any one wait may take on a loaded machine before the test fails

WAIT_FOR_GO = """\
\"\"\"The pre-switch command: wait until the file argv[1]/go exists (at most 120 s).\"\"\"
import sys
import time
from pathlib import Path

go = Path(sys.argv[1]) / "go"
for _ in range(1200):
    if go.exists():
        sys.exit(0)
    time.sleep(0.1)
sys.exit("go never came")
"""


@dataclass
class Site:
    url: str
    repo: AppRepo
    marks: Path
    api: httpx.Client

    def live(self) -> dict[str, Any]:
        response = self.api.get(f"{self.url}/api/environments/production/live")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def wait_live(self, what: str, done: Any) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while True:
            data = self.live()
            if done(data):
                return data
            assert time.monotonic() < deadline, f"the live API never showed {what}: {data}"
            time.sleep(0.05)


def configure(repo: AppRepo, change: Any, message: str) -> None:
    data = yaml.safe_load(repo.config.read_text())
    change(data)
    repo.write_config(data)
    repo.commit_file("NOTE", message, message)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    fleet = SshFleet()
    host = TestHost(ADDRESS, fleet.base, fleet.client_public_key, fleet.port)
    fleet.hosts.append(host)
    work = Path(tempfile.mkdtemp(prefix="syl-", dir="/tmp"))
    try:
        host.start()
        fleet.write_known_hosts()
        open_to_nginx([host])
        marks = work / "marks"
        marks.mkdir()
        config = {
            "app": "reconcile",
            # the app's log names its token: the live view must not
            "start": "sh -c 'echo \"starting with token $API_TOKEN\"; exec python3 app.py'",
            "health": {"path": f"/healthz?key={SECRET}", "interval": 0.1, "deadline": 8},
            "drain_timeout": 2,
            "observe": {"window": 0},
            "gates": {"bandit": {"enabled": False}},
            "shipyard_command": f"{sys.executable} -m shipyard",
            "ssh": ssh_settings(fleet),
            "secrets": {"API_TOKEN": {"from_env": "LIVE_TEST_TOKEN"}},
            "pre_switch": {"command": f"python3 wait_for_go.py {marks}"},
            "environments": {"production": {"hosts": [host_entry(host, free_port(ADDRESS))]}},
        }
        repo = make_repo(work / "repo", config)
        repo.commit_file("wait_for_go.py", WAIT_FOR_GO, "a pre-switch command that waits")
        live = LiveDeploys(idle_interval=0.5, busy_interval=0.2)
        app = create_app(
            Context(ShipyardConfig.load(repo.config), MemoryStore(), live),
            AuthSettings(token_hash=auth.hash_secret(TOKEN)),
        )
        with (
            serving(app) as url,
            httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as api,
        ):
            yield Site(url, repo, marks, api)
    finally:
        shut_down([(host, "production")])
        fleet.cleanup()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def deploy(site: Site) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "shipyard", "deploy", "production", "-c", str(site.repo.config)],
        cwd=site.repo.path,
        env={"PATH": "/usr/bin:/bin", "CI": "true", "LIVE_TEST_TOKEN": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def phase_events(data: dict[str, Any], phase: str) -> list[tuple[int, str]]:
    return [(e["id"], e["status"]) for e in data["events"] if e["phase"] == phase]


def test_the_live_api_shows_a_phase_running_while_it_still_runs(site: Site) -> None:
    running = deploy(site)
    try:
        seen = site.wait_live("CHECK running", lambda d: phase_events(d, "check"))
        # CHECK cannot end before `go` exists, and only this test creates it
        assert not (site.marks / "go").exists()
        assert running.poll() is None, "the deploy ended before its phase was shown"
        assert seen["running"]
        assert [status for _, status in phase_events(seen, "check")] == ["start"]
        (host,) = seen["grid"]["hosts"]
        assert seen["grid"]["cells"][host]["check"]["status"] == "start"
        assert seen["grid"]["cells"][host]["prepare"]["status"] == "ok"
        (site.marks / "go").touch()
        output, _ = running.communicate(timeout=WAIT)
        assert running.returncode == 0, output
    finally:
        if running.poll() is None:
            running.kill()
            running.communicate()
    done = site.wait_live(
        "the deploy's end", lambda d: not d["running"] and phase_events(d, "switch")
    )
    assert done["deployment_id"] == seen["deployment_id"]
    start, ok = phase_events(done, "check")
    assert start[1] == "start" and ok[1] == "ok" and start[0] < ok[0]
    assert done["grid"]["cells"][host]["switch"]["status"] == "ok"


def test_a_failed_deploys_probes_and_log_lines_reach_the_live_api_redacted(site: Site) -> None:
    before = site.live()["deployment_id"]

    def break_health(data: dict[str, Any]) -> None:
        data["env"] = {"RECONCILE_FAIL_HEALTH": "1"}
        data["health"]["deadline"] = 4
        data.pop("pre_switch")

    configure(site.repo, break_health, "breaks its health")
    failing = deploy(site)
    output, _ = failing.communicate(timeout=WAIT)
    assert failing.returncode == 1, output
    assert SECRET not in output
    data = site.wait_live(
        "the failure",
        lambda d: d["deployment_id"] != before and d["grid"]["failures"],
    )
    (failure,) = data["grid"]["failures"]
    assert (failure["phase"], failure["status"]) == ("check", "failed")
    probes = [probe["line"] for probe in failure["probes"]]
    assert probes and all("/healthz?key=*** -> " in line for line in probes), probes
    assert " -> HTTP 5" in probes[-1], probes  # the app answered, unhealthy
    assert "starting with token ***" in failure["log_tail"], failure["log_tail"]
    assert SECRET not in json.dumps(data)
    page = site.api.get(f"{site.url}/env/production/live")
    assert page.status_code == 200 and "starting with token ***" in page.text
    assert SECRET not in page.text
