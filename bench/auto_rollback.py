"""Automatic rollback benchmark: a release that fails right after the switch, under load.

The issue: "A release that starts failing right after the switch, under at least 200
requests/s: time from the switch until traffic is back on the old release, and failed
client requests in that window. Target: back within 10 s of the first error, failed
requests at most 1% of those sent in the window, and none for GET requests where the old
slot serves as backup."

A local environment (one host, managed nginx on 127.0.0.1:PORT, socket mode or
`--listen-mode tcp`, the demo's health settings, `observe: {window: 10, interval: 0.5,
failure_limit: 2}`, the other analysis settings at their defaults) runs a good release of
the example app. Then the app repository gets one more commit: `bench_fault.py` plus a
two-line hook in `app.py` (bench-side, in the temporary repository only; examples/ is not
touched). The faulty release passes its health check (`/healthz` stays 200 throughout)
and:

- `http500`: answers 500 to every other request, from the first one on;
- `crash`: serves normally, but its process exits (`os._exit`) CRASH_AFTER seconds after
  the first non-health request it gets, i.e. about a second after the switch. supervisord
  restarts it, and the restarted process does the same (a crash loop). nginx sends the
  requests it could not get answered to the old slot, its `backup` server.

Each run: a load generator (bench/loadgen.py; GET PATH through nginx, keep-alive or one
fresh connection per request; one run per client mode) starts; PRE seconds later a new
commit of the faulty app is deployed through Shipyard's Python API; Shipyard's analysis
should fail it and switch back (outcome `auto-rolled-back`); the load runs POST seconds
more. Every request is accounted for. All times are on this machine's monotonic clock
(load generator samples, Shipyard's phase events), the nginx access log's `$msec` is
converted with the offset measured at start. Per run, in seconds after the switch phase
started:

- new seen: the first response carrying the new release's X-Release;
- first error: the first failed response (non-2xx or connection error) to arrive, of
  the requests sent from the switch on;
- first fault: the first sign of trouble anywhere: first error, the faulty process's own
  log line saying it exits (crash), or the first request nginx had to send to the backup
  (access log `$upstream_addr` with two addresses);
- switched back: the end of Shipyard's `switch-back` phase (operator clock);
- back on old: the first successful response from the old release after the last
  failed or new-release response (sent from the switch on) and after the last request
  nginx tried on the new slot and then sent to the backup (from the access log): from
  there on, the old release answers everything;
- window: requests *sent* from the start of the switch phase until "back on old";
  failed requests sent before or after it are counted separately (there should be none).

`--nginx-retry-5xx` is a what-if, not Shipyard's configuration: right after Shipyard's
PREPARE phase (which writes server.conf) the bench adds `http_500 http_502 http_503
http_504` to `proxy_next_upstream` and reloads nginx, so that nginx also asks the backup
(old) slot when the new one answers 5xx. Its reload closes idle keep-alive client
connections: the keep-alive client sees those as errors before the switch.

    .venv/bin/python bench/auto_rollback.py                     # http500, 5 runs per client
    .venv/bin/python bench/auto_rollback.py --scenario crash
    .venv/bin/python bench/auto_rollback.py --nginx-retry-5xx      # what-if, see above
    .venv/bin/python bench/auto_rollback.py --runs 3 --modes fresh --rate 300

`--listen-mode tcp` runs the same in tcp mode (the slots on ports PORT+1 and PORT+2).

Results go to a new bench/results/auto_rollback-SCENARIO[-retry5xx][-tcp]-COMMIT-STAMP.json and
a Markdown table is printed. Cleanup: the environment is shut down through the host
`shutdown` operation and the load generators are stopped, also on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import (
    LoadProcess,
    RecordingReporter,
    base_config,
    commit_version,
    deploy,
    fmt,
    git,
    machine,
    make_repo,
    median,
    require_free,
    shutdown_host,
    store_result,
    table,
)
from loadgen import Sample, summarize

from shipyard.execute.outcomes import DeployFailed
from shipyard.plan.analysis import parse_access_line

APP = "reconcile"
ENV = "bench"
OBSERVE = {"window": 10.0, "interval": 0.5, "failure_limit": 2}
DEPLOY_TIMEOUT = 120.0  # one deploy, bounded
MAX_LISTED_FAILURES = 50  # per run, in the JSON; all are counted
TARGET_BACK_S = 10.0
TARGET_FAILED_PCT = 1.0
RETRY_FROM = "proxy_next_upstream error timeout;"
RETRY_TO = "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;"

# Written into the temporary app repository (never into examples/): the faulty release.
FAULT_MODULE = '''\
"""Bench-only fault injection for Shipyard's auto-rollback benchmark (see bench_fault.json)."""

import json
import os
import sys
import threading
import time
from pathlib import Path

CONFIG = json.loads((Path(__file__).resolve().parent / "bench_fault.json").read_text())
_first = []
_lock = threading.Lock()


def _log(message):
    sys.stdout.write(f"bench fault: {message} at {time.time():.3f}\\n")
    sys.stdout.flush()


def _crash():
    _log("exiting (crash)")
    os._exit(70)


def _first_request():
    with _lock:
        if _first:
            return
        _first.append(time.monotonic())
    _log("first non-health request")
    if CONFIG["mode"] == "crash":
        threading.Timer(float(CONFIG["crash_after"]), _crash).start()


def install(handler_class, json_response):
    original = handler_class._dispatch

    def _dispatch(self):
        if self.path.split("?", 1)[0] == "/healthz":
            return original(self)
        _first_request()
        if CONFIG["mode"] == "http500":
            return self._send(json_response(500, {"error": "injected fault (bench)"}))
        return original(self)

    handler_class._dispatch = _dispatch
'''
MAIN_BLOCK = 'if __name__ == "__main__":\n    sys.exit(main())'
HOOKED_BLOCK = (
    'if __name__ == "__main__":\n'
    "    import bench_fault\n\n"
    "    bench_fault.install(ReconcileHandler, json_response)\n"
    "    sys.exit(main())"
)


class Recorder(RecordingReporter):
    """RecordingReporter that also keeps the info lines (the release id is in one), and
    can run a bench-side action when a phase ends (the what-if nginx edit)."""

    def __init__(self, after_prepare: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.infos: list[tuple[float, str]] = []
        self.after_prepare = after_prepare

    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        super().phase(host, phase, status, detail)
        if phase == "prepare" and status == "ok" and self.after_prepare is not None:
            self.after_prepare()

    def info(self, message: str) -> None:
        self.infos.append((time.monotonic(), message))


def nginx_retry_5xx(root: Path) -> Callable[[], None]:
    """What-if (not Shipyard's configuration): let nginx also retry a 5xx on the backup.

    Shipyard rewrites server.conf in every deploy's PREPARE (`proxy` operation), so this
    edits it right after that phase, then tests and reloads the environment's nginx.
    """
    proxy = root / APP / ENV / "proxy"

    def apply() -> None:
        conf = proxy / "server.conf"
        text = conf.read_text()
        if RETRY_FROM not in text:
            raise SystemExit(f"{conf} has no '{RETRY_FROM}': the what-if does not apply")
        conf.write_text(text.replace(RETRY_FROM, RETRY_TO))
        argv = ["nginx", "-p", f"{proxy}/", "-c", str(proxy / "nginx.conf")]
        subprocess.run([*argv, "-t", "-q"], check=True, capture_output=True, timeout=30)
        subprocess.run([*argv, "-s", "reload"], check=True, capture_output=True, timeout=30)

    return apply


def install_fault(repo: Path, scenario: str, crash_after: float) -> None:
    """One commit that makes every later release of the repo faulty."""
    app = repo / "app.py"
    text = app.read_text()
    if MAIN_BLOCK not in text:
        raise SystemExit("examples/reconcile/app.py changed: cannot place the fault hook")
    app.write_text(text.replace(MAIN_BLOCK, HOOKED_BLOCK))
    (repo / "bench_fault.py").write_text(FAULT_MODULE)
    (repo / "bench_fault.json").write_text(
        json.dumps({"mode": scenario, "crash_after": crash_after}) + "\n"
    )
    git(repo, "add", "app.py", "bench_fault.py", "bench_fault.json")
    git(repo, "commit", "-q", "-m", f"bench: faulty release ({scenario})")


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait (bounded) for the 1-minute load average to fall below limit; return it."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(2)
    return os.getloadavg()[0]


def read_access_log(path: Path, offset: int) -> tuple[list[Any], int]:
    if not path.exists():
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    entries = [e for e in map(parse_access_line, data.decode(errors="replace").splitlines()) if e]
    return entries, offset + len(data)


def app_fault_lines(log: Path, since_epoch: float) -> list[tuple[float, str]]:
    """('bench fault: ... at EPOCH') lines of a slot's log written after since_epoch."""
    found = []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("bench fault: ") and " at " in line:
                what, _, at = line[len("bench fault: ") :].rpartition(" at ")
                try:
                    t = float(at)
                except ValueError:
                    continue
                if t >= since_epoch:
                    found.append((t, what))
    return found


def failed(s: Sample) -> bool:
    return not 200 <= s.status < 300


def analyse_run(
    samples: list[Sample],
    events: list[Any],
    old: str,
    new: str,
    access: list[Any],
    epoch_offset: float,
    faults: list[tuple[float, str]],
) -> dict[str, Any]:
    """Times relative to the start of the switch phase; counts of the run's requests."""

    def first(phase: str, status: str | None = None) -> float | None:
        for e in events:
            if e.phase == phase and (e.status == status if status else e.status != "start"):
                return float(e.t)
        return None

    t0 = first("switch", "start")
    if t0 is None:
        return {"error": "no switch phase: the deploy failed before the switch"}

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 3)

    def arrival(s: Sample) -> float:
        return s.t + s.latency

    errors = [s for s in samples if failed(s)]
    new_seen = min((arrival(s) for s in samples if s.release == new), default=None)
    first_error = min((arrival(s) for s in errors if s.t >= t0), default=None)
    fallbacks = [e for e in access if "," in e.upstream]
    first_fallback = min((e.at - epoch_offset for e in fallbacks), default=None)
    # traffic is on the new release until the last response from it or failure a client
    # saw, and the last request nginx tried on the new slot before falling back
    last_bad = max(
        [arrival(s) for s in samples if s.t >= t0 and (failed(s) or s.release == new)]
        + [e.at - epoch_offset for e in fallbacks],
        default=None,
    )
    back = None
    if last_bad is not None:
        back = min(
            (
                arrival(s)
                for s in samples
                if arrival(s) > last_bad and not failed(s) and s.release == old
            ),
            default=None,
        )
    window_end = back if back is not None else max(arrival(s) for s in samples)
    in_window = [s for s in samples if t0 <= s.t <= window_end]
    window_failed = [s for s in in_window if failed(s)]
    outside = [s for s in errors if not t0 <= s.t <= window_end]
    crashes = [t - epoch_offset for t, what in faults if what.startswith("exiting")]
    # the first sign of trouble anywhere: a failed response, a crash, an nginx fallback
    first_fault = min(
        (t for t in (first_error, first_fallback, min(crashes, default=None)) if t is not None),
        default=None,
    )
    span = max(s.t for s in samples) - min(s.t for s in samples)
    return {
        "rate": round(len(samples) / span, 1) if span else 0.0,
        "requests": len(samples),
        "switch_phase_s": round((first("switch") or t0) - t0, 3),
        "new_seen_s": rel(new_seen),
        "first_error_s": rel(first_error),
        "observe_start_s": rel(first("observe", "start")),
        "observe_end_s": rel(first("observe")),
        "switch_back_start_s": rel(first("switch-back", "start")),
        "switch_back_end_s": rel(first("switch-back")),
        "back_on_old_s": rel(back),
        "back_after_first_error_s": (
            None if back is None or first_error is None else round(back - first_error, 3)
        ),
        "first_fault_s": rel(first_fault),
        "back_after_first_fault_s": (
            None if back is None or first_fault is None else round(back - first_fault, 3)
        ),
        "window_sent": len(in_window),
        "window_failed": len(window_failed),
        "window_failed_pct": (
            round(100 * len(window_failed) / len(in_window), 2) if in_window else None
        ),
        "window_new_release_2xx": sum(1 for s in in_window if s.release == new and not failed(s)),
        "failed_outside_window": len(outside),
        "failed_total": len(errors),
        "summary": summarize(samples),
        "nginx_fallbacks": len(fallbacks),
        "nginx_first_fallback_s": rel(first_fallback),
        "crashes": [rel(t) for t in crashes],
        "failures": [
            {
                "t_s": rel(s.t),
                "status": s.status,
                "error": s.error,
                "release": s.release,
                "stale": s.stale,
                "latency_ms": round(s.latency * 1000, 1),
            }
            for s in errors[:MAX_LISTED_FAILURES]
        ],
    }


async def one_run(
    args: argparse.Namespace,
    index: int,
    mode: str,
    repo: Path,
    config_path: Path,
    root: Path,
    old: str,
    epoch_offset: float,
) -> dict[str, Any]:
    loadavg = wait_quiet(args.max_load, args.quiet_timeout)
    commit_version(repo, f"2.{index}.0")
    workdir = Path(args.workdir)
    access_log = root / APP / ENV / "logs" / "nginx-access.log"
    _, offset = read_access_log(access_log, 0)
    started_epoch = time.time()
    url = f"http://127.0.0.1:{args.port}{args.path}"
    bound = args.pre + DEPLOY_TIMEOUT + args.post + 30
    load = LoadProcess(url, mode, args.rate, bound, workdir, args.connections)
    reporter = Recorder(nginx_retry_5xx(root) if args.nginx_retry_5xx else None)
    record: dict[str, Any] = {"run": index, "mode": mode, "loadavg_before": round(loadavg, 2)}
    try:
        load.wait_ready()
        await asyncio.sleep(args.pre)
        t_deploy = time.monotonic()
        try:
            async with asyncio.timeout(DEPLOY_TIMEOUT):
                result = await deploy(config_path, f"bench faulty {index}", reporter)
            record |= {"outcome": "succeeded", "release": result.release_id}
        except DeployFailed as exc:
            record |= {"outcome": exc.outcome, "message": str(exc), "analysis": exc.figures}
        record["deploy_s"] = round(time.monotonic() - t_deploy, 3)
        await asyncio.sleep(args.post)
        rows = load.stop()
    finally:
        load.kill()
    new = next(
        (m.split()[1] for _, m in reporter.infos if m.startswith("release ")), record.get("release")
    )
    record["release"] = new
    samples = [Sample(**row) for row in rows]
    access, _ = read_access_log(access_log, offset)
    faults: list[tuple[float, str]] = []
    for slot in ("blue", "green"):
        faults += app_fault_lines(root / APP / ENV / "logs" / f"web-{slot}.log", started_epoch)
    record |= analyse_run(samples, reporter.events, old, str(new), access, epoch_offset, faults)
    record["phases"] = [
        {"t_s": round(e.t - t_deploy, 3), "phase": e.phase, "status": e.status}
        for e in reporter.events
    ]
    return record


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    root = workdir / "hosts"
    shutdown_host(str(root))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    require_free(args.port)
    observe = dict(OBSERVE, window=args.observe_window, interval=args.observe_interval)
    overrides: dict[str, Any] = {"observe": observe}
    if args.listen_mode == "tcp":
        overrides |= {"listen_mode": "tcp", "ports": [args.port + 1, args.port + 2]}
        for port in overrides["ports"]:
            require_free(port)
    config = base_config(root, args.port, **overrides)
    config_path = make_repo(workdir / "repo", config)
    repo = config_path.parent
    epoch_offset = time.time() - time.monotonic()
    results: dict[str, Any] = {
        "scenario": args.scenario,
        "what_if_nginx_retry_5xx": args.nginx_retry_5xx,
        "listen_mode": args.listen_mode,
        "machine": machine(),
        "settings": {
            "rate": args.rate,
            "modes": args.modes,
            "runs": args.runs,
            "connections": args.connections,
            "path": args.path,
            "pre_s": args.pre,
            "post_s": args.post,
            "crash_after_s": args.crash_after if args.scenario == "crash" else None,
            "config": {k: v for k, v in config.items() if k != "environments"},
        },
        "runs": [],
    }
    try:
        print("initial deploy of the good release ...", flush=True)
        good = await deploy(config_path, "bench good", Recorder())
        results["old_release"] = good.release_id
        install_fault(repo, args.scenario, args.crash_after)
        index = 0
        for mode in args.modes:
            for _ in range(args.runs):
                index += 1
                record = await one_run(
                    args, index, mode, repo, config_path, root, good.release_id, epoch_offset
                )
                results["runs"].append(record)
                if not args.quiet:
                    print(line(record), flush=True)
    finally:
        shutdown_host(str(root))
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["medians"] = {
        mode: medians([r for r in results["runs"] if r["mode"] == mode]) for mode in args.modes
    }
    return results


MEDIAN_KEYS = (
    "rate",
    "new_seen_s",
    "first_error_s",
    "switch_back_end_s",
    "back_on_old_s",
    "back_after_first_error_s",
    "first_fault_s",
    "back_after_first_fault_s",
    "window_sent",
    "window_failed",
    "window_failed_pct",
    "failed_total",
    "nginx_fallbacks",
    "deploy_s",
)


def medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in MEDIAN_KEYS:
        values = [float(r[key]) for r in runs if r.get(key) is not None]
        out[key] = round(median(values), 3) if values else None
    return out


def line(r: dict[str, Any]) -> str:
    return (
        f"  run {r['run']:2d} {r['mode']:10s} {r.get('outcome')}: first error "
        f"{r.get('first_error_s')} s, back on old {r.get('back_on_old_s')} s after the switch; "
        f"failed {r.get('window_failed')}/{r.get('window_sent')} in the window, "
        f"{r.get('failed_total')} in the run; nginx fallbacks {r.get('nginx_fallbacks')}"
    )


def report(results: dict[str, Any]) -> str:
    headers = [
        "run",
        "client",
        "req/s",
        "outcome",
        "new seen s",
        "first error s",
        "first fault s",
        "switched back s",
        "back on old s",
        "back after first fault s",
        "failed / sent in window",
        "failed %",
        "failed outside window",
        "nginx fallbacks",
    ]
    rows = []

    def row(label: str, mode: str, r: dict[str, Any], outcome: str) -> list[str]:
        return [
            label,
            mode,
            fmt(r.get("rate"), 0),
            outcome,
            fmt(r.get("new_seen_s")),
            fmt(r.get("first_error_s")),
            fmt(r.get("first_fault_s")),
            fmt(r.get("switch_back_end_s")),
            fmt(r.get("back_on_old_s")),
            fmt(r.get("back_after_first_fault_s")),
            f"{fmt(r.get('window_failed'), 0)} / {fmt(r.get('window_sent'), 0)}",
            fmt(r.get("window_failed_pct")),
            fmt(r.get("failed_outside_window"), 0),
            fmt(r.get("nginx_fallbacks"), 0),
        ]

    for mode in results["settings"]["modes"]:
        for r in results["runs"]:
            if r["mode"] == mode:
                rows.append(row(str(r["run"]), mode, r, str(r.get("outcome"))))
        m = dict(results["medians"][mode])
        m["failed_outside_window"] = None
        rows.append(row("**median**", mode, m, ""))
    lines = [table(headers, rows), ""]
    for mode, m in results["medians"].items():
        lines.append(
            f"{mode}: back on the old release {fmt(m['back_after_first_fault_s'])} s after the "
            f"first fault (target {TARGET_BACK_S:g} s); failed {fmt(m['window_failed_pct'])}% "
            f"of the requests sent in the window (target {TARGET_FAILED_PCT:g}%) (medians)"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("http500", "crash"), default="http500")
    parser.add_argument("--port", type=int, default=18490, help="nginx on 127.0.0.1:PORT")
    parser.add_argument(
        "--listen-mode",
        choices=("socket", "tcp"),
        default="socket",
        help="tcp: the slots on PORT+1 and PORT+2",
    )
    parser.add_argument("--runs", type=int, default=5, help="per client mode")
    parser.add_argument("--modes", default="keepalive,fresh", help="keepalive, fresh, ...")
    parser.add_argument("--rate", type=float, default=200.0, help="req/s")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--path", default="/api/sample")
    parser.add_argument("--pre", type=float, default=3.0, help="seconds of load before")
    parser.add_argument("--post", type=float, default=3.0, help="seconds of load after")
    parser.add_argument("--crash-after", type=float, default=1.0, help="crash scenario")
    parser.add_argument("--observe-window", type=float, default=OBSERVE["window"])
    parser.add_argument("--observe-interval", type=float, default=OBSERVE["interval"])
    parser.add_argument(
        "--nginx-retry-5xx",
        action="store_true",
        help="what-if, not Shipyard's config: nginx also retries 5xx on the backup slot",
    )
    parser.add_argument("--max-load", type=float, default=3.0, help="wait for loadavg below")
    parser.add_argument("--quiet-timeout", type=float, default=60.0)
    parser.add_argument("--workdir", default="/tmp/sybench/auto-rollback")
    parser.add_argument(
        "--json-out", help="default: a new bench/results/auto_rollback-LABEL-COMMIT-STAMP.json"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be 1-20")
    if not 0 < args.rate <= 1000:
        parser.error("--rate must be in (0, 1000]")
    label = args.scenario + ("-retry5xx" if args.nginx_retry_5xx else "")
    label += "-tcp" if args.listen_mode == "tcp" else ""
    args.workdir = f"{args.workdir}-{label}"
    results = asyncio.run(main_async(args))
    out = store_result("auto_rollback", results, variant=label, out=args.json_out)
    print()
    print(report(results))
    print(f"\nold release {results.get('old_release')}; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
