"""How late a deploy's phases show on the live view: from a phase really starting on the
host to the dashboard's live API showing it (issue 10 item 6).

One SSH test host (tests/support/sshd.py: sshd on 127.0.0.62 with its own nginx and
supervisord), the example app, and a `release_command` that writes its start time
(time.time(): host and operator are this one machine, so one clock) and then sleeps
--hold seconds: RELEASE-COMMAND is one long host operation that starts its command at
once. The dashboard (`create_app`, its `LiveDeploys` polling the primary's events every
--poll s) is served by uvicorn on loopback, and a client thread reads its JSON live API
every --poll s. Each of --runs deploys is the real CLI (a new commit each). Per run:

- `shown`: when the client first saw RELEASE-COMMAND's `start` event, minus when the
  command started on the host;
- `recorded`: the event's own time on the primary (when `record-progress` wrote it),
  minus the same start.

The phase's event is sent as the operator asks the host to start the command, so a
delay can be slightly negative (the command's Python is still starting). Writes
bench/results/live_events[-VARIANT]-<commit12>-<UTC>.json; `SHIPYARD_BENCH_REF=<commit>`
measures another commit (e.g. the one before the lane, with `--variant before`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # first: it pins the Shipyard snapshot before shipyard is imported
import httpx
import uvicorn
from benchlib import commit_version, machine, make_repo, store_result, table

from shipyard.config.shipyard_config import ShipyardConfig
from shipyard.serve.live import LiveDeploys
from shipyard.serve.web import auth
from shipyard.serve.web.app import AuthSettings, create_app

ADDRESS = "127.0.0.62"
TOKEN = "bench-live-token"
ENV = "bench"
PHASE = "release-command"
MARK = """\
import sys
import time
from pathlib import Path

with Path(sys.argv[1]).open("a") as marks:
    marks.write(f"{time.time()!r}\\n")
time.sleep(float(sys.argv[2]))
"""


class Context:
    def __init__(self, config: ShipyardConfig, live: LiveDeploys) -> None:
        self.config = config
        self.store = _Store()
        self.live = live
        self.base_url = "http://127.0.0.1"


class _Store:
    """The dashboard's store, empty (the live view reads the hosts, not the store)."""

    def mirrored_deploys(self, env: str, host: str | None = None) -> dict[str, str]:
        return {}

    def mirror_deploys(self, env: str, host: str, records: dict[str, str]) -> None:
        pass


class Watcher(threading.Thread):
    """Reads the live API every `poll` s; keeps when each event id was first seen."""

    def __init__(self, url: str, poll: float) -> None:
        super().__init__(daemon=True)
        self.url, self.poll = url, poll
        self.first_seen: dict[int, tuple[float, dict[str, Any]]] = {}
        self.stop = threading.Event()
        self.errors = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(headers=headers, timeout=10) as client:
            while not self.stop.is_set():
                try:
                    data = client.get(f"{self.url}/api/environments/{ENV}/live").json()
                except (httpx.HTTPError, ValueError):
                    self.errors += 1
                else:
                    now = time.time()
                    for event in data.get("events", []):
                        self.first_seen.setdefault(event["id"], (now, event))
                self.stop.wait(self.poll)


def free_port(address: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hold", type=float, default=5.0, help="the release command's sleep")
    parser.add_argument("--poll", type=float, default=0.1, help="LiveDeploys and client poll (s)")
    parser.add_argument("--variant", help="store as live_events-VARIANT")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    sshd = benchlib.sshd_support()
    fleet = sshd.SshFleet()
    host = sshd.TestHost(ADDRESS, fleet.base, fleet.client_public_key, fleet.port)
    fleet.hosts.append(host)
    work = Path(tempfile.mkdtemp(prefix="bench-live-", dir="/tmp"))
    runs: list[dict[str, Any]] = []
    facts = machine()
    server: uvicorn.Server | None = None
    try:
        host.start()
        fleet.write_known_hosts()
        for path in [host.root_dir, *host.root_dir.parents]:  # nginx's workers reach it
            if str(path).startswith("/tmp/"):
                path.chmod(path.stat().st_mode | 0o005)
        marks = work / "marks"
        port = free_port(ADDRESS)
        config: dict[str, Any] = {
            "app": benchlib.APP,
            "start": "python3 app.py",
            "health": {"path": "/healthz", "interval": 0.1, "deadline": 20},
            "drain_timeout": 1,
            "observe": {"window": 0},
            "rollback_window": 0,
            "gates": dict(benchlib.NO_GATES),
            "release_command": f"python3 mark.py {marks} {args.hold}",
            "environments": {ENV: benchlib.ssh_hosts_config(fleet, [host], port, "live")},
        }
        env_config = config["environments"][ENV]
        for key in ("shipyard_command", "ssh"):
            config[key] = env_config.pop(key)
        config_path = make_repo(work / "repo", config)
        repo = config_path.parent
        (repo / "mark.py").write_text(MARK)
        benchlib.git(repo, "add", "-A")
        benchlib.git(repo, "commit", "-q", "-m", "the pre-switch mark")
        live = LiveDeploys(idle_interval=args.poll, busy_interval=args.poll)
        app = create_app(
            Context(ShipyardConfig.load(config_path), live),  # type: ignore[arg-type]
            AuthSettings(token_hash=auth.hash_secret(TOKEN)),
        )
        web_port = free_port("127.0.0.1")
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=web_port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.02)
        watcher = Watcher(f"http://127.0.0.1:{web_port}", args.poll)
        watcher.start()
        cli = [sys.executable, "-m", "shipyard", "deploy", ENV, "-c", str(config_path)]
        for run in range(args.runs):
            commit_version(repo, f"2.0.{run}")  # a new release each run
            started = time.time()
            done = subprocess.run(
                cli, cwd=repo, env={**os.environ, "CI": "true"}, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise SystemExit(f"deploy {run} failed:\n{done.stdout}\n{done.stderr}")
            time.sleep(max(1.0, 3 * args.poll))  # the last events reach the watcher
            command_started = float(marks.read_text().splitlines()[-1])
            seen = [
                (at, event)
                for at, event in watcher.first_seen.values()
                if event.get("phase") == PHASE
                and event.get("status") == "start"
                and event["at"] >= started
            ]
            if not seen:
                raise SystemExit(f"run {run}: the live API never showed {PHASE}'s start")
            shown_at, event = min(seen, key=lambda pair: pair[0])
            runs.append(
                {
                    "run": run,
                    "deployment_id": event["deployment_id"],
                    "command_started": command_started,
                    "recorded_s": round(event["at"] - command_started, 3),
                    "shown_s": round(shown_at - command_started, 3),
                    "deploy_s": round(time.time() - started, 2),
                }
            )
            print(f"run {run}: shown {runs[-1]['shown_s']} s, recorded {runs[-1]['recorded_s']} s")
        watcher.stop.set()
    finally:
        if server is not None:
            server.should_exit = True
        subprocess.run(
            [sys.executable, "-m", "shipyard.host", "shutdown"],
            input=json.dumps(
                {"root": str(host.root_dir / "live"), "app": benchlib.APP, "env": ENV}
            ),
            text=True,
            capture_output=True,
        )
        fleet.cleanup()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    shown = [r["shown_s"] for r in runs]
    recorded = [r["recorded_s"] for r in runs]
    result = {
        "machine": facts,
        "runs": runs,
        "hold_s": args.hold,
        "poll_s": args.poll,
        "host": "one SSH test host (sshd on 127.0.0.62)",
        "shown_median_s": round(statistics.median(shown), 3),
        "shown_max_s": max(shown),
        "shown_min_s": min(shown),
        "recorded_median_s": round(statistics.median(recorded), 3),
        "recorded_max_s": max(recorded),
    }
    path = store_result("live_events", result, variant=args.variant, out=args.json_out)
    print(
        table(
            ["", "median (s)", "min", "max"],
            [
                [
                    "shown on the live API",
                    *(f"{v:g}" for v in (result["shown_median_s"], min(shown), max(shown))),
                ],
                [
                    "recorded on the primary",
                    *(
                        f"{v:g}"
                        for v in (result["recorded_median_s"], min(recorded), max(recorded))
                    ),
                ],
            ],
        )
    )
    print(f"stored {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
