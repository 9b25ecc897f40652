"""Zero-downtime benchmark: load through nginx while deploys and rollbacks run back to back.

A local environment (one host, managed nginx on 127.0.0.1:PORT) serves the example app.
Load generators (bench/loadgen.py, one child process per mode) send GET requests through
nginx, keep-alive and/or one fresh connection per request, while this script runs
DEPLOYS deploys (each a new commit, so every release differs) and ROLLBACKS warm
rollbacks, back to back, through Shipyard's Python API. Every request is counted.

Requests are split by when they were sent: "switch windows" (within WINDOW seconds
before the switch phase started or after it ended, on the operator's clock), "operation
running, outside switch windows", and "steady state" (IDLE seconds of load before the
first and after the last operation).

    .venv/bin/python bench/zero_downtime.py                       # socket mode
    .venv/bin/python bench/zero_downtime.py --listen-mode tcp     # tcp mode (nginx reload)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from benchlib import (
    Event,
    LoadProcess,
    RecordingReporter,
    base_config,
    commit_version,
    deploy,
    fmt,
    machine,
    make_repo,
    require_free,
    rollback,
    shutdown_host,
    store_result,
    table,
)
from loadgen import Sample, summarize

MAX_LISTED_FAILURES = 100  # in the JSON; all are counted
CLOCK_FIELDS = ("start", "end", "switch_start", "switch_end")  # seconds since load began
SLOW_SECONDS = 0.25  # successful responses this slow are counted by operator phase
PERIODS = {
    "quiet": "steady state (no operation running)",
    "deploying": "operation running, outside switch windows",
    "switch": "switch windows",
}


def plan(deploys: int, rollbacks: int) -> list[str]:
    """deploy, deploy, rollback, ... : every rollback follows a deploy, so it is warm."""
    if rollbacks > deploys:
        raise SystemExit("ask for at most as many rollbacks as deploys")
    ops: list[str] = []
    per = deploys // rollbacks if rollbacks else deploys
    for _ in range(rollbacks):
        ops += ["deploy"] * per + ["rollback"]
    ops += ["deploy"] * (deploys - per * rollbacks)
    return ops


async def run_ops(
    ops: list[str], repo: Path, config_path: Path, reporter: RecordingReporter, verbose: bool
) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    for index, op in enumerate(ops, 1):
        first = len(reporter.events)
        t0 = time.monotonic()
        if op == "deploy":
            commit_version(repo, f"1.{index}.0")
            result = await deploy(config_path, f"bench {index}", reporter)
            record: dict[str, Any] = {
                "op": op,
                "release": result.release_id,
                "previous": result.previous_release,
                "timings": result.timings,
            }
        else:
            back = await rollback(config_path, f"bench rollback {index}", reporter)
            record = {
                "op": op,
                "release": back.release_id,
                "previous": back.previous_release,
                "warm": back.warm,
                "timings": back.timings,
            }
        record["start"], record["end"] = t0, time.monotonic()
        switch = [e for e in reporter.events[first:] if e.phase == "switch"]
        record["switch_start"] = min(e.t for e in switch if e.status == "start")
        record["switch_end"] = max(e.t for e in switch if e.status != "start")
        done.append(record)
        if verbose:
            print(
                f"  {index:2d}/{len(ops)} {op:8s} -> {record['release']} "
                f"{record['end'] - record['start']:.2f}s "
                f"(switch {record['switch_end'] - record['switch_start']:.2f}s)",
                flush=True,
            )
    return done


def phase_at(events: list[Event], times: list[float], t: float) -> str:
    """The phase the operator was in at time t (the last phase event before it)."""
    i = bisect.bisect_right(times, t) - 1
    if i < 0:
        return "before"
    e = events[i]
    return e.phase if e.status == "start" else f"after {e.phase}"


def analyse(
    samples: list[Sample],
    ops: list[dict[str, Any]],
    events: list[Event],
    window: float,
    load_start: float,
) -> dict[str, Any]:
    first_op = ops[0]["start"] if ops else float("inf")
    last_op = ops[-1]["end"] if ops else float("-inf")
    spans = sorted((o["switch_start"] - window, o["switch_end"] + window) for o in ops)
    starts = [s for s, _ in spans]

    def in_window(t: float) -> bool:
        i = bisect.bisect_right(starts, t) - 1
        return i >= 0 and t <= spans[i][1]

    groups: dict[str, list[Sample]] = {"quiet": [], "deploying": [], "switch": []}
    for s in samples:
        if in_window(s.t):
            groups["switch"].append(s)
        elif s.t < first_op or s.t > last_op:
            groups["quiet"].append(s)
        else:
            groups["deploying"].append(s)
    times = [e.t for e in events]
    failures = []
    for s in samples:
        if not 200 <= s.status < 300:
            failures.append(
                {
                    "t": round(s.t - load_start, 3),
                    "status": s.status,
                    "error": s.error,
                    "stale": s.stale,
                    "latency_ms": round(s.latency * 1000, 1),
                    "phase": phase_at(events, times, s.t),
                }
            )
    slow = [s for s in samples if 200 <= s.status < 300 and s.latency >= SLOW_SECONDS]
    flips = []
    ordered = sorted(samples, key=lambda s: s.t)
    for o in ops:
        first_new = next(
            (s for s in ordered if s.t >= o["start"] and s.release == o["release"]), None
        )
        if first_new is not None:
            flips.append(first_new.t - o["switch_start"])
    all_ = summarize(samples)
    span = (ordered[-1].t - ordered[0].t) if len(ordered) > 1 else 0.0
    return {
        "total": all_,
        "rate": round(len(samples) / span, 1) if span else 0.0,
        "quiet": summarize(groups["quiet"]),
        "deploying": summarize(groups["deploying"]),
        "switch": summarize(groups["switch"]),
        "failures_by_phase": _count(f["phase"] for f in failures),
        "slow_by_phase": _count(phase_at(events, times, s.t) for s in slow),
        "failures": failures[:MAX_LISTED_FAILURES],
        "first_new_release_after_switch_start_s": {
            "min": round(min(flips), 3) if flips else None,
            "max": round(max(flips), 3) if flips else None,
        },
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def report(results: dict[str, Any], periods: dict[str, str] | None = None) -> str:
    periods = periods or PERIODS
    rows = []
    for mode, res in results["modes"].items():
        for group in ("quiet", "deploying", "switch"):
            g = res[group]
            rows.append(
                [
                    results["listen_mode"],
                    mode,
                    periods[group],
                    str(g["requests"]),
                    str(g["non2xx"]),
                    str(g["conn_errors"]),
                    fmt(g["p50_ms"], 1),
                    fmt(g["p99_ms"], 1),
                    fmt(g["max_ms"], 1),
                ]
            )
        t = res["total"]
        rows.append(
            [
                results["listen_mode"],
                mode,
                f"**all** ({res['rate']}/s)",
                f"**{t['requests']}**",
                f"**{t['non2xx']}**",
                f"**{t['conn_errors']}**",
                fmt(t["p50_ms"], 1),
                fmt(t["p99_ms"], 1),
                fmt(t["max_ms"], 1),
            ]
        )
    headers = ["listen_mode", "client", "period", "requests", "non-2xx", "conn errors"]
    headers += ["p50 ms", "p99 ms", "max ms"]
    return table(headers, rows)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    root = workdir / "hosts"
    shutdown_host(str(root))
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    require_free(args.port)
    overrides: dict[str, Any] = {
        "listen_mode": args.listen_mode,
        "rollback_window": args.rollback_window,
    }
    if args.listen_mode == "tcp":
        ports = [args.port + 1, args.port + 2]
        for p in ports:
            require_free(p)
        overrides["ports"] = ports
    config_path = make_repo(workdir / "repo", base_config(root, args.port, **overrides))
    repo = config_path.parent
    reporter = RecordingReporter()
    url = f"http://127.0.0.1:{args.port}{args.path}"
    loads: list[LoadProcess] = []
    results: dict[str, Any] = {
        "listen_mode": args.listen_mode,
        "machine": machine(),
        "settings": {
            k: getattr(args, k)
            for k in (
                "deploys",
                "rollbacks",
                "rollback_window",
                "rate",
                "modes",
                "window",
                "path",
                "connections",
            )
        },
    }
    try:
        print(f"initial deploy ({args.listen_mode} mode) ...", flush=True)
        await deploy(config_path, "bench initial", RecordingReporter())
        ops = plan(args.deploys, args.rollbacks)
        for mode in args.modes:
            loads.append(
                LoadProcess(url, mode, args.rate, args.max_seconds + 60, workdir, args.connections)
            )
        for load in loads:
            load.wait_ready()
        load_start = time.monotonic()
        print(
            f"load: {', '.join(args.modes)} at {args.rate:g} req/s each -> {url}; "
            f"running {len(ops)} operations",
            flush=True,
        )
        await asyncio.sleep(args.idle)
        async with asyncio.timeout(args.max_seconds):
            done = await run_ops(ops, repo, config_path, reporter, not args.quiet)
        await asyncio.sleep(args.idle)
        raw = {load.mode: load.stop() for load in loads}
        reconnects = {
            load.mode: json.loads(load.summary_line).get("reconnects_idle_closed", 0)
            for load in loads
        }
    finally:
        for load in loads:
            load.kill()
        shutdown_host(str(root))
    results["ops"] = [
        {k: (round(v - load_start, 3) if k in CLOCK_FIELDS else v) for k, v in o.items()}
        for o in done
    ]
    results["modes"] = {}
    for mode, rows in raw.items():
        samples = [Sample(**row) for row in rows]
        results["modes"][mode] = analyse(samples, done, reporter.events, args.window, load_start)
        results["modes"][mode]["reconnects_idle_closed"] = reconnects[mode]
    switch_secs = sorted(o["switch_end"] - o["switch_start"] for o in done)
    results["switch_phase_seconds"] = {
        "median": round(switch_secs[len(switch_secs) // 2], 3),
        "max": round(switch_secs[-1], 3),
    }
    results["warm_rollbacks"] = sum(1 for o in done if o.get("warm"))
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen-mode", choices=("socket", "tcp"), default="socket")
    parser.add_argument("--port", type=int, default=18190, help="nginx listens on 127.0.0.1:PORT")
    parser.add_argument("--deploys", type=int, default=20)
    parser.add_argument(
        "--rollback-window",
        type=float,
        default=600.0,
        help="0: every deploy stops the old slot right away (rollbacks are then cold)",
    )
    parser.add_argument("--rollbacks", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="req/s per client mode")
    parser.add_argument(
        "--modes",
        default="keepalive,fresh",
        help="client modes run at the same time (comma-separated): keepalive, "
        "keepalive-checked, fresh",
    )
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--path", default="/api/sample")
    parser.add_argument("--window", type=float, default=1.0, help="seconds around a switch")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of load before/after")
    parser.add_argument("--max-seconds", type=float, default=420.0, help="bound on the ops")
    parser.add_argument("--workdir", default="/tmp/sybench/zd")
    parser.add_argument(
        "--json-out", help="default: a new bench/results/zero_downtime-MODE[-rw0]-COMMIT-STAMP.json"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    suffix = "-rw0" if args.rollback_window == 0 else ""
    args.workdir = f"{args.workdir}-{args.listen_mode}{suffix}"
    results = asyncio.run(main_async(args))
    out = store_result(
        "zero_downtime", results, variant=f"{args.listen_mode}{suffix}", out=args.json_out
    )
    print()
    print(report(results))
    for mode, res in results["modes"].items():
        flips = res["first_new_release_after_switch_start_s"]
        print(
            f"\n{mode}: first response from the new release came {flips['min']}..{flips['max']} s "
            f"after the switch phase started; idle connections found closed by the server "
            f"and reopened: {res['reconnects_idle_closed']}"
        )
        if res["failures_by_phase"]:
            print(f"  failed requests by operator phase: {res['failures_by_phase']}")
        if res["slow_by_phase"]:
            print(f"  responses >= {SLOW_SECONDS:g} s by operator phase: {res['slow_by_phase']}")
        for failure in res["failures"][:10]:
            print(f"  failed: {failure}")
    print(f"\nswitch phase: {results['switch_phase_seconds']}; results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
