"""Dashboard response times with 10,000 deploy records and 30 days of check results.

Fills a fresh SQLite store (`serve/store.py`) with N deployment records across two
environments (a tenth failed, some auto-rolled-back) and 30 days of check results (three
checks per environment, one result a minute each, a few outages), serves the dashboard
(`create_app`) with uvicorn on loopback, signs in once, then requests each page and its
JSON R times, one at a time, and reports the median, p95 and maximum per page. The
pollers never reach a host: each environment's snapshot is set once, as a poll would.
Writes bench/results/dashboard-<commit12>-<time>.json; not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from resultfiles import facts, store_result  # noqa: E402

from shipyard.config.loader import ConfigFile  # noqa: E402
from shipyard.execute.queries import EnvironmentStatus, HostStatus  # noqa: E402
from shipyard.plan.check_results import CheckResult  # noqa: E402
from shipyard.protocol.codec import encode  # noqa: E402
from shipyard.protocol.common import Deployment, Event, Probe  # noqa: E402
from shipyard.protocol.inspect import SlotStatus, StatusReply  # noqa: E402
from shipyard.serve.live import LiveDeploys  # noqa: E402
from shipyard.serve.mirror import Sources  # noqa: E402
from shipyard.serve.store import Store  # noqa: E402
from shipyard.serve.web import auth  # noqa: E402
from shipyard.serve.web.app import AuthSettings, create_app  # noqa: E402

CONFIG = """
app: bench
start: python3 app.py
environments:
  staging: {hosts: [local], root: /tmp/bench-dash-staging}
  production: {hosts: [local], root: /tmp/bench-dash-production}
"""
PASSWORD = "bench-password"
PAGES = [
    "/",
    "/env/production",
    "/env/production/live",
    "/history",
    "/history?env=production&outcome=failed",
    "/env/production/checks?period=24h",
    "/env/production/checks?period=30d",
    "/api/environments",
    "/api/history",
    "/api/environments/production/checks?period=30d",
]
PHASES = ("prepare", "boot", "check", "switch", "verify", "cleanup")


def record(n: int, env: str, at: float, rng: random.Random) -> Deployment:
    outcome = rng.choices(["succeeded", "failed", "auto-rolled-back"], weights=[88, 9, 3], k=1)[0]
    return Deployment(
        id=f"{env}-{n:06d}",
        kind="deploy",
        release_id=f"{n:012x}",
        previous_release_id=None,
        commit_sha=f"{n:040x}",
        commit_time=None,
        trigger=rng.choice(["manual", "ci"]),
        actor=rng.choice(["alice", "bob", "carol", "ci"]),
        message=None,
        hosts=["web-1", "web-2"],
        started_at=at,
        finished_at=at + 40,
        outcome=outcome,
        error=None if outcome == "succeeded" else "check failed: GET /healthz -> HTTP 503",
        phases={p: round(rng.uniform(0.05, 8), 2) for p in PHASES},
        analysis=None,
        checks=None,
        promoted_from=None,
    )


def fill(store: Store, live: LiveDeploys, records: int, days: int, now: float) -> int:
    rng = random.Random(7)
    envs = sorted(live.envs)
    per_env = records // len(envs)
    for env in envs:
        step = days * 86400 / per_env
        batch = [record(i, env, now - days * 86400 + i * step, rng) for i in range(per_env)]
        store.mirror_deploys(env, "local", {d.id: json.dumps(encode(d)) for d in batch})
    results = 0
    for env in envs:
        rows = []
        for check in ("health", "api", "tls"):
            at = now - days * 86400
            while at < now:
                ok = rng.random() > 0.002
                rows.append(
                    CheckResult(env, check, "-", at, ok, rng.uniform(5, 60) if ok else None)
                )
                at += 60
        for i in range(0, len(rows), 10_000):
            store.add_results(rows[i : i + 10_000])
        results += len(rows)
    return results


def status(env: str) -> EnvironmentStatus:
    probe = Probe("http://127.0.0.1/healthz", time.time(), 3.0, 200, None, "r1")
    slots = [
        SlotStatus("blue", "r1", "active", None, "RUNNING", {}, True, probe),
        SlotStatus("green", "r0", "stopped", None, "STOPPED", {}, False, None),
    ]
    reply = StatusReply(True, "blue", "r1", slots, "RUNNING", "RUNNING", "blue", None, [])
    hosts = [HostStatus("web-1", reply), HostStatus("web-2", reply)]
    return EnvironmentStatus(env, None, None, hosts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=100, help="requests per page")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        config = ConfigFile.parse(CONFIG, Path(tmp) / "shipyard.yml")
        envs = {name: config.environment(name) for name in config.environment_names}
        store = Store.open(Path(tmp) / "serve.db")

        async def status_of(env: object) -> EnvironmentStatus:
            return status(getattr(env, "name", "?"))

        async def no_history(env: object, limit: int) -> list[Deployment]:
            return []

        async def no_events(env: object, after: int) -> list[Event]:
            return []

        sources = Sources(status=status_of, history=no_history, events=no_events)
        live = LiveDeploys(sources, idle_interval=3600).attach(envs, store)
        now = time.time()
        started = time.monotonic()
        results = fill(store, live, args.records, args.days, now)
        fill_s = time.monotonic() - started
        live.deploys = type(live.deploys)(store)  # pages start from the store, as after a restart
        app = create_app(
            _Context(store, live), AuthSettings(password_hash=auth.hash_secret(PASSWORD))
        )
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        timings: dict[str, list[float]] = {}
        first: dict[str, float] = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while any(live.snapshot(e).polled_at is None for e in envs):
                time.sleep(0.05)
            form = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
            assert csrf
            signed = client.post("/login", data={"csrf": csrf.group(1), "password": PASSWORD})
            assert signed.status_code in (200, 303), signed.status_code
            for path in PAGES:
                times = []
                for i in range(args.repeat + 1):
                    t0 = time.perf_counter()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - t0) * 1000
                    assert response.status_code == 200, (path, response.status_code)
                    if i == 0:
                        first[path] = round(elapsed, 2)  # loads the index from the store
                    else:
                        times.append(elapsed)
                timings[path] = times
        server.should_exit = True
        thread.join(10)
        store.close()
    pages = {
        path: {
            "first_ms": first[path],
            "median_ms": round(statistics.median(t), 2),
            "p95_ms": round(sorted(t)[int(0.95 * len(t)) - 1], 2),
            "max_ms": round(max(t), 2),
        }
        for path, t in timings.items()
    }
    worst = max(p["p95_ms"] for p in pages.values())
    result = {
        "machine": facts(f"{'dirty ' if dirty else ''}{commit}"),
        "records": args.records,
        "days": args.days,
        "check_results": results,
        "repeat": args.repeat,
        "fill_s": round(fill_s, 2),
        "pages": pages,
        "worst_p95_ms": worst,
        "target_p95_ms": 100,
    }
    path = store_result("dashboard", result, out=args.json_out)
    print("| page | first (ms) | median | p95 | max |\n|---|---|---|---|---|")
    for page, p in pages.items():
        print(f"| `{page}` | {p['first_ms']} | {p['median_ms']} | {p['p95_ms']} | {p['max_ms']} |")
    print(f"worst p95 {worst} ms (target < 100 ms); stored {path}")
    return 0


class _Context:
    def __init__(self, store: Store, live: LiveDeploys) -> None:
        self.config = None  # settings are given: the dashboard reads no serve.auth
        self.store = store
        self.live = live
        self.base_url = "http://127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    raise SystemExit(main())
