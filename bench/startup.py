"""Start-up and warm rollback, end to end, through the real `shipyard` command.

What a person waits for, timed from outside: the command is started as a fresh process
(`python -m shipyard ...`, the pinned source) and timed until it exits. For rollbacks
also until traffic moved, as a client sees it: a thread polls nginx's health path over
HTTP/1.1 keep-alive every few milliseconds and notes when the `X-Release` header first
names the rollback's target.

- `--help`, `status ENV` (local environment), RUNS times each;
- warm rollback, RUNS times back and forth between two deployed releases (inside the
  rollback window: one switch), on one local host and on one SSH test host
  (tests/support/sshd.py, sshd on 127.0.0.11).

With `--compare REF` the same measurements run first against REF (for example the base
commit of a change), then against the pinned source, and the result holds both, side
by side, with ratios. Where the Shipyard under test has `SHIPYARD_TIMING`, its own marks
(time from process start to "traffic moved") are kept too.

    .venv/bin/python bench/startup.py --compare 288100f     # before/after, ~3 minutes
    .venv/bin/python bench/startup.py --scenarios local --runs 3

Writes bench/results/startup-<commit12>-<UTCstamp>.json (or --json-out).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import (
    RecordingReporter,
    base_config,
    commit_version,
    deploy,
    fmt,
    machine,
    make_repo,
    median,
    require_free,
    shutdown_host,
    ssh_hosts_config,
    sshd_support,
    table,
)
from pin import source_label

CLI = [sys.executable, "-m", "shipyard"]
TIMING_MARK = re.compile(r"\[timing +([0-9.]+)s\] (.*)")


# -- timing a command ------------------------------------------------------------------
CPU: dict[str, list[float]] = {}  # what -> CPU seconds (user + system) per run


def run_cli(
    args: list[str], cwd: Path, what: str = ""
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the CLI; wall seconds. Its CPU seconds (with its local children, such as a
    local agent; not what sshd runs) go to CPU[what]: on a busy machine the wall time
    includes waiting for a core, the CPU time does not."""
    env = dict(os.environ, SHIPYARD_TIMING="1", CI="true")  # plain output, timing marks
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    CPU.setdefault(what or args[0], []).append(round(cpu, 4))
    return seconds, done


def marks(stderr: str) -> dict[str, float]:
    """SHIPYARD_TIMING marks: what -> seconds since the process started (first one)."""
    found: dict[str, float] = {}
    for line in stderr.splitlines():
        match = TIMING_MARK.match(line)
        if match:
            found.setdefault(match.group(2), float(match.group(1)))
    return found


class Watcher:
    """Polls http://address/healthz on one keep-alive connection; notes when a release
    is first seen (monotonic time)."""

    def __init__(self, address: str, path: str = "/healthz") -> None:
        self.host, port = address.rsplit(":", 1)
        self.port, self.path = int(port), path
        self.seen: dict[str, float] = {}
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=2)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                release = response.getheader("X-Release") or ""
                self.seen.setdefault(release, time.monotonic())
            except (OSError, http.client.HTTPException):
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.003)
        if conn is not None:
            conn.close()

    def wait_for(self, release: str, timeout: float = 10.0) -> float | None:
        deadline = time.monotonic() + timeout
        while release not in self.seen and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.seen.get(release)


# -- scenarios -------------------------------------------------------------------------
def measure_env(
    name: str, config: dict[str, Any], listen: str, workdir: Path, runs: int
) -> dict[str, Any]:
    """Deploy two releases (untimed), then time status and warm rollbacks via the CLI."""
    import asyncio

    repo = workdir / name / "repo"
    config_path = make_repo(repo, config)
    releases = []
    for version in ("1", "2"):
        commit_version(repo, f"startup {version}")
        result = asyncio.run(deploy(config_path, f"startup {version}", RecordingReporter()))
        releases.append(result.release_id)
    active = releases[-1]
    out: dict[str, Any] = {"status": [], "rollback_exit": [], "rollback_traffic": []}
    out["rollback_shipyard_traffic_mark"] = []
    for _ in range(runs):
        seconds, done = run_cli(["status", "bench"], repo, f"{name} status")
        if done.returncode != 0:
            raise SystemExit(f"status failed: {done.stderr}")
        out["status"].append(round(seconds, 4))
    with Watcher(listen) as watcher:
        for _ in range(runs):
            target = releases[0] if active == releases[1] else releases[1]
            watcher.seen.pop(target, None)
            started = time.monotonic()
            seconds, done = run_cli(["rollback", "bench"], repo, f"{name} rollback")
            if done.returncode != 0:
                raise SystemExit(f"rollback failed: {done.stdout}\n{done.stderr}")
            seen = watcher.wait_for(target)
            out["rollback_exit"].append(round(seconds, 4))
            out["rollback_traffic"].append(round(seen - started, 4) if seen else None)
            moved = marks(done.stderr).get("traffic moved")
            if moved is not None:
                out["rollback_shipyard_traffic_mark"].append(round(moved, 4))
            active = target
            time.sleep(0.5)
        out["client_errors"] = watcher.errors
    out["warm"] = "warm: one switch" in done.stdout
    return out


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir) / re.sub(r"[^0-9a-z]+", "-", source_label())[:24]
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    results: dict[str, Any] = {"shipyard": source_label(), "runs": args.runs, "scenarios": {}}
    help_times = []
    for _ in range(args.runs):
        seconds, done = run_cli(["--help"], workdir, "help")
        assert done.returncode == 0, done.stderr
        help_times.append(round(seconds, 4))
    results["help"] = help_times
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    fleet = None
    roots: list[str] = []
    try:
        for offset, name in enumerate(scenarios):
            port = args.port + offset
            if name == "local":
                require_free(port)
                root = workdir / name / "hosts"
                root.mkdir(parents=True)
                config = base_config(root, port)
                listen = f"127.0.0.1:{port}"
                roots = [str(root)]
            else:
                if fleet is None:
                    fleet = sshd_support().SshFleet(port=args.ssh_port)
                    fleet.base.chmod(0o711)  # nginx's workers reach the app sockets inside
                host = fleet(1)[0]
                require_free(port, host.address)
                config = base_config(workdir / "unused", port)
                config["environments"] = {"bench": ssh_hosts_config(fleet, [host], port, name)}
                listen = f"{host.address}:{port}"
                roots = [str(host.root_dir / name)]
            print(f"[startup] {name}: load average {os.getloadavg()[0]:.2f}", flush=True)
            try:
                results["scenarios"][name] = measure_env(name, config, listen, workdir, args.runs)
            finally:
                for root in roots:
                    shutdown_host(root)
    finally:
        if fleet is not None:
            fleet.cleanup()
    results["cpu_seconds"] = dict(CPU)
    return results


# -- comparing with another commit -------------------------------------------------------
def run_at(ref: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """This script, pinned at `ref`, in a child process; its results."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_BENCH_")}
    env["SHIPYARD_BENCH_REF"] = ref
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and "/sybench/" not in p
    )
    argv = [sys.executable, __file__, "--raw", "--json-out", str(out), "--runs", str(args.runs)]
    argv += ["--scenarios", args.scenarios, "--port", str(args.port + 10)]
    argv += ["--ssh-port", str(args.ssh_port + 10), "--workdir", args.workdir]
    subprocess.run(argv, env=env, check=True)
    loaded: dict[str, Any] = json.loads(out.read_text())
    return loaded


def summary(results: dict[str, Any]) -> dict[str, float | None]:
    flat: dict[str, float | None] = {"help": median(results["help"])}
    for name, scenario in results["scenarios"].items():
        flat[f"{name} status"] = median(scenario["status"])
        flat[f"{name} rollback, to exit"] = median(scenario["rollback_exit"])
        traffic = [t for t in scenario["rollback_traffic"] if t is not None]
        flat[f"{name} rollback, to traffic moved"] = median(traffic) if traffic else None
    for what, values in results.get("cpu_seconds", {}).items():
        flat[f"{what}: CPU seconds"] = median(values)
    return flat


def report(result: dict[str, Any]) -> str:
    after = summary(result["after"])
    before = summary(result["before"]) if "before" in result else {}
    rows = []
    for key, value in after.items():
        old = before.get(key)
        ratio = f"{old / value:.1f}x" if old and value else "-"
        rows.append([key, fmt(old, 3), fmt(value, 3), ratio])
    return table(["median seconds", "before", "after", "faster"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="local,ssh1")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--port", type=int, default=18470, help="nginx port (+1 per scenario)")
    parser.add_argument("--ssh-port", type=int, default=2360, help="first port for test sshd")
    parser.add_argument("--workdir", default="/tmp/sybench/startup")
    parser.add_argument("--compare", help="also measure this commit first, side by side")
    parser.add_argument("--json-out")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.runs <= 30:
        parser.error("--runs must be 1-30")
    if args.raw:  # one side of a comparison
        Path(args.json_out).write_text(json.dumps(run_all(args), indent=2) + "\n")
        return 0
    result: dict[str, Any] = {
        "benchmark": "startup",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
    }
    if args.compare:
        scratch = Path(args.workdir)
        scratch.mkdir(parents=True, exist_ok=True)
        result["before"] = run_at(args.compare, args, scratch / "before.json")
    result["after"] = run_all(args)
    result["summary"] = {"after": summary(result["after"])}
    if "before" in result:
        result["summary"]["before"] = summary(result["before"])
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    commit = os.environ.get("SHIPYARD_BENCH_COMMIT", "worktree")[:12]
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    out = Path(
        args.json_out or Path(__file__).with_name("results") / f"startup-{commit}-{stamp}.json"
    )
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(report(result))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
