"""VERIFY and the pre-switch checks, on a local environment (real nginx and supervisord).

Each failing deploy must leave the old release serving, stop the new slot, record the
failure and mark the release bad.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apprepo import AppRepo
from support.localenv import TOKEN, served_release

pytestmark = pytest.mark.integration

# The new release answers probes made straight to its slot (CHECK), but 503 to every
# request that came through nginx (which adds X-Forwarded-For): nginx passes those on to
# its backup, the old slot, so the answers through nginx come from the wrong release.
DISPATCH = "    def _dispatch(self) -> None:\n"
NGINX_SHY = DISPATCH + (
    "        if self.headers.get('X-Forwarded-For'):\n"
    "            self._send(json_response(HTTPStatus.SERVICE_UNAVAILABLE, {'error': 'shy'}))\n"
    "            return\n"
)

# The pre-switch command: GET /api/sample from the new slot, over its socket; records what
# it saw (and where) in argv[1], and fails when `days` is not 3.
CHECK_SCRIPT = """\
import http.client, json, os, socket, sys

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(os.environ["SHIPYARD_SLOT_SOCKET"])

conn = Conn("localhost")
conn.request("GET", "/api/sample")
response = conn.getresponse()
days = json.loads(response.read())["days"]
seen = [os.environ["SHIPYARD_SLOT_URL"], response.getheader("X-Release"), days]
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(seen) + "\\n")
if days != 3:
    print(f"days is {days}, the reports assume 3")
    sys.exit(4)
"""


def configure(repo: AppRepo, change: Any) -> None:
    data = yaml.safe_load(repo.config.read_text())
    change(data)
    repo.write_config(data)


def cli_json(repo: AppRepo, *args: str) -> Any:
    result = repo.shipyard(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_refused_and_old_serving(
    repo: AppRepo, before: tuple[int, str | None, str | None], release: str, error: str
) -> None:
    assert served_release(repo) == before
    slots = cli_json(repo, "status", "local")["hosts"][0]["slots"]
    idle = next(s for s in slots if not s["active"])
    assert idle["process"] != "RUNNING", slots  # the new slot was stopped
    record = cli_json(repo, "history", "local")[0]
    assert (record["release_id"], record["outcome"]) == (release, "failed")
    assert error in record["error"]
    bad = [r for r in cli_json(repo, "releases", "local") if r["release_id"] == release]
    assert [r["status"] for r in bad] == ["bad"]


def test_verify_fails_when_nginx_answers_from_the_old_release(repo: AppRepo) -> None:
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    app = (repo.path / "app.py").read_text()
    assert DISPATCH in app
    repo.commit_file("app.py", app.replace(DISPATCH, NGINX_SHY), "shy of nginx")
    release = repo.commit_version("2.0.0")

    result = repo.shipyard("deploy", "local", env=TOKEN)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "check ok" in result.stdout  # the new slot itself was healthy
    assert "through nginx" in result.stderr and "the new release did not answer" in result.stderr
    assert before[1] in result.stderr  # the probe shows which release did answer
    assert_refused_and_old_serving(repo, before, release, "the new release did not answer")


def test_pre_switch_checks_run_against_the_new_slot_and_a_failure_stops_it(
    repo: AppRepo, env_dir: Path
) -> None:
    seen = env_dir / "pre-switch.jsonl"
    sample = {"path": "/api/sample", "json_path": "days", "equals": 3}
    configure(
        repo,
        lambda data: data.update(
            pre_switch={"http": [sample], "command": f"python3 check_days.py {seen}"}
        ),
    )
    repo.commit_file("check_days.py", CHECK_SCRIPT, "pre-switch check")
    first = repo.shipyard("deploy", "local", env=TOKEN)
    assert first.returncode == 0, first.stdout + first.stderr
    before = served_release(repo)
    # the command ran against the new slot, over its socket, before the switch
    assert json.loads(seen.read_text()) == ["http://localhost", before[1], 3]

    # the HTTP check fails: days is 4; the command is not run after a failed check
    core = (repo.path / "reconcile_core.py").read_text()
    repo.commit_file(
        "reconcile_core.py", core.replace("DEFAULT_DAYS = 3", "DEFAULT_DAYS = 4"), "days 4"
    )
    release = repo.commit_version("2.0.0")
    failed = repo.shipyard("deploy", "local", env=TOKEN)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    message = "GET /api/sample: days is 4, expected 3"
    assert "failed its pre-switch checks" in failed.stderr and message in failed.stderr
    assert "switch start" not in failed.stdout
    assert_refused_and_old_serving(repo, before, release, message)
    assert len(seen.read_text().splitlines()) == 1

    # without the HTTP check, the command catches it, with its output
    configure(repo, lambda data: data["pre_switch"].pop("http"))
    release = repo.commit_version("2.0.1")
    failed = repo.shipyard("deploy", "local", env=TOKEN)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    message = "pre-switch command exited 4: days is 4, the reports assume 3"
    assert message in failed.stderr
    assert "switch start" not in failed.stdout
    assert_refused_and_old_serving(repo, before, release, message)
    assert json.loads(seen.read_text().splitlines()[-1]) == ["http://localhost", release, 4]
