"""Hotfix benchmark: `shipyard hotfix local --ref REF --reason TEXT`, command to serving.

The issue: "Target: under 60 s from command to serving on one host for the example app".

A local environment `local` (one host, managed nginx on 127.0.0.1:PORT, socket mode)
with Shipyard's defaults except: `hotfix.observe_window: 5` (written out, it is also the
default) and `promotion.requires: staging` on `local` (so a plain deploy would be
refused; the hotfix lane skips that). No `gates:` key, so the default gates run: pip-audit
(skipped, the example app has no requirements.txt) and bandit on the app's Python files.
Health checks, analysis interval (1 s), rollback window etc. are Shipyard's defaults.

The good release is deployed first (Python API). Then, per run, the app repository
gets a fix commit (VERSION changes, so it is a new release), and the bench runs the
real CLI in a child process, on the pinned source, non-interactive (plain output):

    python -m shipyard hotfix local --ref <fix sha> --reason "bench hotfix N" -c shipyard.yml

while a light load generator (bench/loadgen.py, keep-alive, RATE req/s, GET PATH through
nginx) watches which release answers. Measured per run, from just before the child
process is started (bench's monotonic clock):

- exit: the command's exit (status must be 0);
- serving: the first response through nginx carrying the new release's X-Release;
- phases: `DeployResult.timings` as the CLI prints them (`deployed ... ; build 0.01s,
  ...`), the gates' own durations (`gate NAME: ok in N s`), and, from timestamps the
  bench puts on every output line as it arrives: start-up (process start to its first
  line), gates (first line to the `release ...` line, less the build), and the tail
  (the `deployed` line to the exit).

`--ref-mode branch` makes main move on after the fix commit (one more commit on top), so
REF is not HEAD: Shipyard then runs the gates in a temporary `git worktree` of REF.

    .venv/bin/python bench/hotfix.py                    # 5 runs, fix at HEAD
    .venv/bin/python bench/hotfix.py --ref-mode branch  # REF behind HEAD (gate worktree)

Results go to a new bench/results/hotfix[-branch]-COMMIT-STAMP.json; Markdown
tables are printed. Cleanup: the environment is shut down through the host `shutdown`
operation, the load generator is stopped and a command still running is killed, also on
errors.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchlib import (
    APP,
    LoadProcess,
    RecordingReporter,
    commit_version,
    deploy,
    fmt,
    git,
    machine,
    make_repo,
    median,
    require_free,
    store_result,
    table,
)
from loadgen import Sample, summarize

from shipyard.host.agent import run as run_op

ENV = "local"
COMMAND_TIMEOUT = 300.0  # one hotfix command, bounded
TARGET_S = 60.0
PHASE_ORDER = (
    "build",
    "connect",
    "repair",
    "prepare",
    "boot",
    "check",
    "switch",
    "verify",
    "observe",
    "retire",
    "cleanup",
)
_DEPLOYED = re.compile(
    r"^(?:deployed|hotfixed) (?P<release>\S+) to \S+ \(was (?P<was>[^)]*)\); (?P<rest>.*)$"
)
_GATE = re.compile(r"^gate (?P<name>\S+): (?P<status>.+?) in (?P<secs>[\d.]+)s")


def config_for(root: Path, port: int) -> dict[str, Any]:
    return {
        "app": APP,
        "start": "python3 app.py",
        "nginx": {"listen": f"127.0.0.1:{port}"},
        "env": {"RECONCILE_BANNER": "Shipyard bench"},
        "hotfix": {"observe_window": 5},
        "environments": {
            "staging": {
                "hosts": ["local"],
                "root": f"{root}-staging",
                "nginx": {"listen": f"127.0.0.1:{port + 1}"},
            },
            ENV: {"hosts": ["local"], "root": str(root), "promotion": {"requires": "staging"}},
        },
    }


def shutdown(root: Path) -> None:
    """Stop both environments: `local` under root, `staging` under root-staging."""
    for env, env_root in ((ENV, root), ("staging", Path(f"{root}-staging"))):
        if (env_root / APP / env / "run" / "supervisor.sock").exists():
            run_op("shutdown", {"root": str(env_root), "app": APP, "env": env})


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait (bounded) for the 1-minute load average to fall below limit; return it."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(2)
    return os.getloadavg()[0]


def make_fix(repo: Path, index: int, ref_mode: str) -> str:
    """Commit a fix; return its sha. In branch mode main moves on by one more commit."""
    commit_version(repo, f"1.0.{index}")
    sha = git(repo, "rev-parse", "HEAD")
    if ref_mode == "branch":
        (repo / "NOTES").write_text(f"work on main after hotfix {index}\n")
        git(repo, "add", "NOTES")
        git(repo, "commit", "-q", "-m", f"main moves on after {index}")
    return sha


def run_command(argv: list[str], cwd: Path) -> tuple[int, list[tuple[float, str]], float, float]:
    """Run the CLI; every output line with its arrival time. Bounded by COMMAND_TIMEOUT."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("CI", None)  # a plain local hotfix; output is plain anyway (not a terminal)
    lines: list[tuple[float, str]] = []
    t_start = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append((time.monotonic(), raw.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    t_exit = time.monotonic()
    reader.join(timeout=10)
    return code, lines, t_start, t_exit


def parse_output(lines: list[tuple[float, str]], t_start: float, t_exit: float) -> dict[str, Any]:
    out: dict[str, Any] = {"timings": {}, "gates": {}}
    first_line = lines[0][0] if lines else None
    gates_line = next((t for t, s in lines if s.startswith("quality gates for")), None)
    release_line = next(((t, s) for t, s in lines if s.startswith("release ")), None)
    texts = [s for _, s in lines]
    gate_lines = [t for t, s in lines if _GATE.match(s)]
    deployed = None
    for i, (t, s) in enumerate(lines):
        if s.startswith(("deployed ", "hotfixed ")):  # the CLI's summary line, old and new
            # the CLI's console wraps at 160 columns on a pipe: join the continuation
            end = next((j for j in range(i + 1, len(texts)) if texts[j].startswith("roll ")), i + 1)
            deployed = (t, _DEPLOYED.match(" ".join(texts[i:end])))
            break
    for _, s in lines:
        gate = _GATE.match(s)
        if gate:
            out["gates"][gate["name"]] = {
                "status": gate["status"],
                "seconds": float(gate["secs"]),
            }
    if release_line:
        out["release"] = release_line[1].split()[1]
    if deployed:
        t_deployed, match = deployed
        assert match is not None
        out["release"] = match["release"]
        out["previous"] = match["was"]
        for part in match["rest"].split(", "):
            name, _, secs = part.rpartition(" ")
            if secs.endswith("s"):
                out["timings"][name] = float(secs[:-1])
        out["tail_s"] = round(t_exit - t_deployed, 3)
    if first_line is not None:
        out["startup_s"] = round(first_line - t_start, 3)
    if gates_line is not None and gate_lines:
        out["gates_s"] = round(gate_lines[-1] - gates_line, 3)
        if release_line is not None:
            # the CLI builds the artifact between the gates and the `release` line; the
            # deploy is handed the artifact, so its own `build` timing is ~0
            out["cli_build_s"] = round(release_line[0] - gate_lines[-1], 3)
    return out


async def one_run(
    args: argparse.Namespace, index: int, repo: Path, config_path: Path
) -> dict[str, Any]:
    loadavg = wait_quiet(args.max_load, args.quiet_timeout)
    sha = make_fix(repo, index, args.ref_mode)
    url = f"http://127.0.0.1:{args.port}{args.path}"
    load = LoadProcess(
        url, "keepalive", args.rate, COMMAND_TIMEOUT + 60, Path(args.workdir), args.connections
    )
    argv = [sys.executable, "-m", "shipyard", "hotfix", ENV, "--ref", sha]
    argv += ["--reason", f"bench hotfix {index}", "--config", str(config_path)]
    try:
        load.wait_ready()
        await asyncio.sleep(1.0)
        code, lines, t_start, t_exit = await asyncio.to_thread(run_command, argv, repo)
        await asyncio.sleep(1.0)
        rows = load.stop()
    finally:
        load.kill()
    parsed = parse_output(lines, t_start, t_exit)
    samples = [Sample(**row) for row in rows]
    new = parsed.get("release")
    serving = min((s.t + s.latency for s in samples if new and s.release == new), default=None)
    during = [s for s in samples if t_start <= s.t <= t_exit]
    parts = [parsed.get(k) for k in ("startup_s", "gates_s", "cli_build_s", "tail_s")]
    parts += [v for k, v in parsed["timings"].items() if k != "build"]
    other = (t_exit - t_start) - sum(p for p in parts if p is not None)
    return {
        "run": index,
        "ref": sha,
        "exit_code": code,
        "loadavg_before": round(loadavg, 2),
        "command_s": round(t_exit - t_start, 3),
        "serving_s": None if serving is None else round(serving - t_start, 3),
        **parsed,
        "other_s": round(other, 3),  # record calls, lock, interpreter work between lines
        "load_during_command": summarize(during),
        "output": [f"[{t - t_start:7.3f}] {s}" for t, s in lines],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    root = workdir / "hosts"
    shutdown(root)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    require_free(args.port)
    require_free(args.port + 1)  # staging
    config = config_for(root, args.port)
    config_path = make_repo(workdir / "repo", config)
    repo = config_path.parent
    results: dict[str, Any] = {
        "ref_mode": args.ref_mode,
        "machine": machine(),
        "settings": {
            "runs": args.runs,
            "rate": args.rate,
            "connections": args.connections,
            "path": args.path,
            "config": config,
        },
        "runs": [],
    }
    try:
        print("initial deploy of the good release ...", flush=True)
        # `local` requires staging first (the promotion rule a hotfix may skip; deploy may not)
        await deploy(config_path, "bench good", RecordingReporter(), env_name="staging")
        good = await deploy(config_path, "bench good", RecordingReporter(), env_name=ENV)
        results["first_release"] = good.release_id
        for index in range(1, args.runs + 1):
            record = await one_run(args, index, repo, config_path)
            results["runs"].append(record)
            if not args.quiet:
                print(
                    f"  run {index}: exit {record['exit_code']} after {record['command_s']} s, "
                    f"serving after {record['serving_s']} s ({record.get('release')})",
                    flush=True,
                )
            if record["exit_code"] != 0:
                print("\n".join(record["output"][-30:]), flush=True)
                raise SystemExit(f"hotfix run {index} failed (exit {record['exit_code']})")
    finally:
        shutdown(root)
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["medians"] = medians(results["runs"])
    return results


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(values: list[float]) -> float | None:
        return round(median(values), 3) if values else None

    out: dict[str, Any] = {
        key: med([r[key] for r in runs if r.get(key) is not None])
        for key in (
            "command_s",
            "serving_s",
            "startup_s",
            "gates_s",
            "cli_build_s",
            "tail_s",
            "other_s",
        )
    }
    names = sorted({n for r in runs for n in r["timings"]}, key=_phase_key)
    out["timings"] = {n: med([r["timings"][n] for r in runs if n in r["timings"]]) for n in names}
    gates = sorted({n for r in runs for n in r["gates"]})
    out["gates"] = {
        n: med([r["gates"][n]["seconds"] for r in runs if n in r["gates"]]) for n in gates
    }
    return out


def _phase_key(name: str) -> tuple[int, str]:
    return (PHASE_ORDER.index(name) if name in PHASE_ORDER else len(PHASE_ORDER), name)


def report(results: dict[str, Any]) -> str:
    runs = results["runs"]
    m = results["medians"]
    headers = ["run", "exit", "command → exit s", "command → serving s", "target", "failed GETs"]
    rows = []
    for r in runs:
        load = r["load_during_command"]
        rows.append(
            [
                str(r["run"]),
                str(r["exit_code"]),
                fmt(r["command_s"]),
                fmt(r["serving_s"]),
                f"< {TARGET_S:g} s",
                f"{load['non2xx'] + load['conn_errors']} / {load['requests']}",
            ]
        )
    rows.append(
        ["**median**", "", fmt(m["command_s"]), fmt(m["serving_s"]), f"< {TARGET_S:g} s", ""]
    )
    first = table(headers, rows)
    names = [n for n in m["timings"] if n != "build"]  # ~0: see cli_build_s
    headers = ["run", "start-up", "gates", "build", *names, "tail", "other", "total"]

    rows = []
    for r in runs:
        rows.append(
            [
                str(r["run"]),
                fmt(r.get("startup_s")),
                fmt(r.get("gates_s")),
                fmt(r.get("cli_build_s")),
                *(fmt(r["timings"].get(n)) for n in names),
                fmt(r.get("tail_s")),
                fmt(r["other_s"]),
                fmt(r["command_s"]),
            ]
        )
    rows.append(
        [
            "**median**",
            fmt(m["startup_s"]),
            fmt(m["gates_s"]),
            fmt(m["cli_build_s"]),
            *(fmt(m["timings"][n]) for n in names),
            fmt(m["tail_s"]),
            fmt(m["other_s"]),
            fmt(m["command_s"]),
        ]
    )
    gates = ", ".join(f"{n} {fmt(s)} s" for n, s in m["gates"].items())
    phases = table(headers, rows)
    return f"{first}\n\nPhases (seconds):\n\n{phases}\n\nGates' own durations (median): {gates}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18590, help="nginx on 127.0.0.1:PORT")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ref-mode", choices=("head", "branch"), default="head")
    parser.add_argument("--rate", type=float, default=50.0, help="watching load, req/s")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--path", default="/api/sample")
    parser.add_argument("--max-load", type=float, default=3.0, help="wait for loadavg below")
    parser.add_argument("--quiet-timeout", type=float, default=60.0)
    parser.add_argument("--workdir", default="/tmp/sybench/hotfix")
    parser.add_argument(
        "--json-out", help="default: a new bench/results/hotfix[-branch]-COMMIT-STAMP.json"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be 1-20")
    if not 0 < args.rate <= 500:
        parser.error("--rate must be in (0, 500]")
    suffix = "-branch" if args.ref_mode == "branch" else ""
    args.workdir = f"{args.workdir}{suffix}"
    results = asyncio.run(main_async(args))
    out = store_result("hotfix", results, variant=suffix.lstrip("-") or None, out=args.json_out)
    print()
    print(report(results))
    print(f"\nresults in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
