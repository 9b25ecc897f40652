"""Speed benchmark: phase times of deploy, warm rollback and cold rollback.

Scenarios: `local` (one local host), `ssh1` and `ssh5` (one and five SSH test hosts from
tests/support/sshd.py, sshd on 127.0.0.11.. with their own keys; every host is this same
machine). For each scenario, after an untimed first deploy:

- warm: RUNS x (new commit, deploy, rollback): the rollback lands inside the rollback
  window, so it is one check + switch of the still-running old slot;
- cold: RUNS x (new commit, deploy, rollback) with rollback_window 0: the deploy retires
  the old slot at once, so the rollback has to boot it again.

The environment uses the demo's settings: health interval 0.2 s and, where this Shipyard
has it, a 2 s post-switch analysis (`observe`). Deploy overhead = total - app boot -
artifact transfer - one health interval - the analysis window.

Every host operation and artifact transfer is timed (bench-side instrumentation), so the
report can say where the time goes. Also measured on their own: how long the app takes
to boot (process start to first healthy answer), and what one host operation costs to
start (`python -m shipyard.host hello` locally, `shipyard host hello` over SSH).

    .venv/bin/python bench/speed.py                     # all scenarios, 5 runs each
    .venv/bin/python bench/speed.py --scenarios local --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from benchlib import (
    EXAMPLE,
    OBSERVE,
    SHIPYARD_COMMAND,
    Instrument,
    RecordingReporter,
    base_config,
    commit_version,
    deploy,
    fmt,
    git,
    has_observe,
    load_env,
    machine,
    make_repo,
    median,
    require_free,
    rollback,
    shutdown_host,
    ssh_hosts_config,
    sshd_support,
    store_result,
    table,
)

from shipyard import __version__
from shipyard.config.model import Environment
from shipyard.execute.hostclient import HostClient, transport_for
from shipyard.execute.outcomes import DeployFailed
from shipyard.protocol.op import PROTOCOL_VERSION
from shipyard.protocol.records import HELLO, HelloRequest

HELLO_REQUEST = HelloRequest(operator_version=__version__, protocol=PROTOCOL_VERSION)


# -- one scenario ----------------------------------------------------------------------
async def timed(
    kind: str,
    env: Environment,
    config_path: Path,
    instrument: Instrument,
    version: str,
) -> dict[str, Any]:
    repo = config_path.parent
    reporter = RecordingReporter()
    if kind == "deploy":
        commit_version(repo, version)
        t0 = time.monotonic()
        result = await deploy(config_path, version, reporter)
        timings, warm = result.timings, None
    else:
        t0 = time.monotonic()
        back = await rollback(config_path, f"rollback {version}", reporter)
        timings, warm = back.timings, back.warm
    t1 = time.monotonic()
    calls, puts = instrument.between(t0, t1)
    primary = env.hosts[0].address if not env.hosts[0].is_local else "local"
    on_primary = [c for c in calls if c.host == primary]
    by_op: dict[str, float] = {}
    for c in on_primary:
        by_op[c.op] = by_op.get(c.op, 0.0) + c.seconds
    return {
        "kind": kind,
        "warm": warm,
        "total": t1 - t0,
        "phases": timings,
        "phase_sum": sum(timings.values()),
        "host_calls": len(calls),
        "primary_calls": len(on_primary),
        "primary_call_seconds": by_op,
        "primary_call_sequence": [c.op for c in on_primary],
        "transfer": max((p.seconds for p in puts), default=0.0),
    }


async def run_scenario(
    name: str, config: dict[str, Any], workdir: Path, runs: int, verbose: bool
) -> dict[str, Any]:
    config_path = make_repo(workdir / name / "repo", config)
    env = load_env(config_path)
    instrument = Instrument()
    rows: dict[str, list[dict[str, Any]]] = {
        "deploy": [],
        "warm": [],
        "cold": [],
        "cold-deploy": [],
    }
    with instrument.active():
        await deploy(config_path, "initial", RecordingReporter())
        for i in range(runs):
            rows["deploy"].append(await timed("deploy", env, config_path, instrument, f"w{i}"))
            rows["warm"].append(await timed("rollback", env, config_path, instrument, f"w{i}"))
            if verbose:
                d, w = rows["deploy"][-1], rows["warm"][-1]
                print(
                    f"  {name} run {i + 1}: deploy {d['total']:.2f}s, "
                    f"rollback {w['total']:.2f}s (warm={w['warm']})",
                    flush=True,
                )
        # every rollback cold: no slot is kept warm
        settings = yaml.safe_load(config_path.read_text())
        settings["rollback_window"] = 0.0
        config_path.write_text(yaml.safe_dump(settings, sort_keys=False))
        git(config_path.parent, "commit", "-q", "-am", "rollback_window 0")
        for i in range(runs):
            deployed = await timed("deploy", env, config_path, instrument, f"c{i}")
            rows["cold-deploy"].append(deployed)
            rows["cold"].append(await timed("rollback", env, config_path, instrument, f"c{i}"))
            if verbose:
                c = rows["cold"][-1]
                print(
                    f"  {name} cold run {i + 1}: deploy (with retire) {deployed['total']:.2f}s, "
                    f"rollback {c['total']:.2f}s (warm={c['warm']})",
                    flush=True,
                )
    return {"hosts": len(env.hosts), "rows": rows}


# -- measurements on their own ---------------------------------------------------------
def app_boot_seconds(workdir: Path, tries: int) -> list[float]:
    """Process start until the app's first 200 on /healthz (unix socket, polled every 5 ms)."""
    app_dir = workdir / "boot-app"
    shutil.rmtree(app_dir, ignore_errors=True)
    shutil.copytree(EXAMPLE, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    sock_path = str(app_dir / "boot.sock")
    request = b"GET /healthz HTTP/1.1\r\nHost: slot\r\nConnection: close\r\n\r\n"
    results = []
    for _ in range(tries):
        t0 = time.monotonic()
        process = subprocess.Popen(
            ["python3", "app.py", "--unix-socket", sock_path],
            cwd=app_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while time.monotonic() - t0 < 20:
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.settimeout(2)
                        s.connect(sock_path)
                        s.sendall(request)
                        if s.recv(64).startswith(b"HTTP/1.1 200"):
                            results.append(time.monotonic() - t0)
                            break
                except OSError:
                    time.sleep(0.005)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return results


def children_cpu() -> float:
    """CPU seconds used so far by this process's waited-for children (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def login_shell_cost(tries: int) -> dict[str, list[float]]:
    """What bash costs when sshd runs a command: started by sshd (SSH_CLIENT set, shell
    level 0), Debian's bash reads ~/.bashrc (on this machine: pyenv init) even for a
    non-interactive command. CPU seconds each."""
    out: dict[str, list[float]] = {}
    as_sshd = {"SSH_CLIENT": "127.0.0.1 50000 22", "SHLVL": "0"}
    for key, extra in (("bash -c true", {}), ("bash -c true, as sshd starts it", as_sshd)):
        values = []
        for _ in range(tries):
            before = children_cpu()
            subprocess.run(["bash", "-c", "true"], env=os.environ | extra, check=True)
            values.append(children_cpu() - before)
        out[key] = values
    return out


async def op_startup(hosts: list[Any], fleet: Any, workdir: Path, tries: int) -> dict[str, Any]:
    """What one host operation costs: as a process of its own (`oneshot`, the heartbeat
    path) and through the per-host agent (`shipyard host serve`, every other call):
    the agent's first call includes starting it. Also the same on N hosts at once, as
    every phase does. Local operations also get their CPU seconds (they are children of
    this process); remote ones run under sshd, where that cannot be attributed."""
    wall: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    has_agent = "oneshot" in inspect.signature(HostClient.call).parameters

    def clients(env: Environment) -> list[HostClient]:
        return [HostClient(env, entry, transport_for(env, entry)) for entry in env.hosts]

    async def measure(key: str, group: list[HostClient], rounds: int, **kwargs: Any) -> None:
        values = []
        before = children_cpu()
        for _ in range(rounds):
            t0 = time.monotonic()
            await asyncio.gather(*(c.call(HELLO, HELLO_REQUEST, **kwargs) for c in group))
            values.append(time.monotonic() - t0)
        wall[key] = values
        if group[0].entry.is_local and kwargs.get("oneshot", not has_agent):
            cpu[key] = (children_cpu() - before) / (rounds * len(group))

    async def agent_start(key: str, env: Environment, rounds: int) -> None:
        values = []
        before = children_cpu()
        for _ in range(rounds):
            group = clients(env)
            await asyncio.gather(*(c.transport.connect() for c in group))
            t0 = time.monotonic()
            await asyncio.gather(*(c.call(HELLO, HELLO_REQUEST) for c in group))
            values.append(time.monotonic() - t0)
            await asyncio.gather(*(c.close() for c in group))
        wall[key] = values
        if env.hosts[0].is_local:  # the agents have exited: their CPU is counted
            cpu[key] = (children_cpu() - before) / (rounds * len(env.hosts))

    async def suite(label: str, env: Environment) -> None:
        group = clients(env)
        n = len(group)
        await asyncio.gather(*(c.transport.connect() for c in group))
        try:
            if has_agent:
                await measure(f"{label}: one-shot process", group, tries, oneshot=True)
                await agent_start(f"{label}: agent start + first call", env, max(3, tries // 2))
                await group[0].call(HELLO, HELLO_REQUEST)  # start the agents
                await asyncio.gather(*(c.call(HELLO, HELLO_REQUEST) for c in group))
                await measure(f"{label}: agent round trip", group, tries * 2)
            else:
                await measure(f"{label}: one-shot process", group, tries)
            if n == 1 and not env.hosts[0].is_local:
                transport = group[0].transport
                values = []
                for _ in range(tries):
                    t0 = time.monotonic()
                    await transport.run(["true"])
                    values.append(time.monotonic() - t0)
                wall[f"{label}: `true` (SSH channel + login shell)"] = values
        finally:
            await asyncio.gather(*(c.close() for c in group))

    micro = workdir / "micro"
    await suite("local", _micro_env(["local"], str(micro), None))
    if hosts:
        entries = [
            {"address": f"root@{h.address}:{h.port}", "root": str(h.root_dir / "micro")}
            for h in hosts
        ]
        await suite("ssh, 1 host", _micro_env(entries[:1], str(micro), fleet))
        if len(hosts) > 1:
            await suite(f"ssh, {len(hosts)} hosts at once", _micro_env(entries, str(micro), fleet))
    return {
        "wall": wall,
        "cpu_seconds_per_op": cpu,
        "agent": has_agent,
        "login_shell_cpu_seconds": login_shell_cost(tries),
    }


def _micro_env(hosts: list[Any], root: str, fleet: Any) -> Environment:
    data: dict[str, Any] = {"name": "bench", "app": "micro", "start": "true", "root": root}
    data["hosts"] = hosts
    if fleet is not None:
        data["shipyard_command"] = SHIPYARD_COMMAND
        data["ssh"] = {
            "known_hosts": str(fleet.known_hosts),
            "identity_file": str(fleet.client_key),
            "config_file": str(fleet.ssh_config),
        }
    return Environment.model_validate(data)


# -- report ----------------------------------------------------------------------------
def overhead(row: dict[str, Any], boot: float, interval: float, observe: float) -> float:
    """Total minus app boot, artifact transfer, one health interval and the configured
    post-switch analysis window (a wait the user chose, like the health interval)."""
    return float(row["total"] - boot - row["transfer"] - interval - observe)


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    boot = median(results["app_boot_seconds"])
    interval = results["health_interval"]
    observe = results["observe_window"]
    out: dict[str, Any] = {}
    for name, scenario in results["scenarios"].items():
        rows = scenario["rows"]
        s: dict[str, Any] = {"hosts": scenario["hosts"]}
        for kind in ("deploy", "warm", "cold", "cold-deploy"):
            items = rows[kind]
            phases = _ordered(r["phases"] for r in items)
            s[kind] = {
                "runs": len(items),
                "total": median([r["total"] for r in items]),
                "phase_sum": median([r["phase_sum"] for r in items]),
                "phases": {p: median([r["phases"].get(p, 0.0) for r in items]) for p in phases},
                "primary_calls": median([r["primary_calls"] for r in items]),
                "host_calls": median([r["host_calls"] for r in items]),
                "transfer": median([r["transfer"] for r in items]),
                "warm_flags": [r["warm"] for r in items],
                "overhead": median([overhead(r, boot, interval, observe) for r in items]),
                "primary_call_seconds": {
                    op: median([r["primary_call_seconds"].get(op, 0.0) for r in items])
                    for op in sorted({op for r in items for op in r["primary_call_seconds"]})
                },
                "primary_call_sequence": items[0]["primary_call_sequence"] if items else [],
            }
        for items in rows.values():
            for r in items[1:]:
                r.pop("primary_call_sequence", None)
        out[name] = s
    return out


def _ordered(dicts: Any) -> list[str]:
    """Keys of several dicts, in order of first appearance (phases in execution order)."""
    seen: dict[str, None] = {}
    for d in dicts:
        seen.update(dict.fromkeys(d))
    return list(seen)


def report(results: dict[str, Any]) -> str:
    summary = results["summary"]
    parts = []
    for kind, title in (("deploy", "deploy"), ("warm", "warm rollback"), ("cold", "cold rollback")):
        phases = _ordered(s[kind]["phases"] for s in summary.values())
        rows = []
        for name, s in summary.items():
            r = s[kind]
            row = [f"{name} ({s['hosts']})"] + [fmt(r["phases"].get(p)) for p in phases]
            row += [fmt(r["phase_sum"]), f"**{fmt(r['total'])}**", f"{r['primary_calls']:g}"]
            if kind == "deploy":
                row += [fmt(r["transfer"], 3), f"**{fmt(r['overhead'])}**"]
            else:
                flags = r["warm_flags"]
                row.append("yes" if all(flags) else ("no" if not any(flags) else "mixed"))
            rows.append(row)
        headers = [f"{title}: hosts", *phases, "sum of phases", "total", "host ops (primary)"]
        headers += ["transfer", "overhead"] if kind == "deploy" else ["warm"]
        parts.append(table(headers, rows))
    parts.append(targets(summary))
    return "\n\n".join(parts)


def targets(summary: dict[str, Any]) -> str:
    """The issue's speed targets next to the measured medians."""
    rows = []
    for name, s in summary.items():
        warm, over = s["warm"]["total"], s["deploy"]["overhead"]
        rows.append([f"warm rollback < 1 s ({name})", f"{warm:.2f} s", _verdict(warm < 1.0)])
        rows.append([f"deploy overhead < 2 s ({name})", f"{over:.2f} s", _verdict(over < 2.0)])
    if "ssh1" in summary and "ssh5" in summary:
        for kind, label in (("deploy", "deploy"), ("warm", "warm rollback"), ("cold", "cold")):
            ratio = summary["ssh5"][kind]["total"] / summary["ssh1"][kind]["total"]
            rows.append(
                [f"5 hosts <= 1.3x 1 host ({label})", f"{ratio:.2f}x", _verdict(ratio <= 1.3)]
            )
    return table(["target", "measured (median)", "met?"], rows)


def _verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait (bounded) for the 1-minute load average to fall below limit; return it."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    results: dict[str, Any] = {
        "machine": machine(),
        "runs": args.runs,
        "health_interval": 0.2,
        "observe_window": OBSERVE["window"] if has_observe() else 0.0,
        "scenarios": {},
        "loadavg": {},
    }
    fleet = None
    hosts: list[Any] = []
    roots: list[str] = []
    try:
        if any(s.startswith("ssh") for s in scenarios):
            sshd = sshd_support()
            fleet = sshd.SshFleet(port=args.ssh_port)
            # mkdtemp makes the fleet's directory 0700; nginx's workers (nobody) must be
            # able to traverse it to reach the app sockets under each host's root.
            fleet.base.chmod(0o711)
            hosts = fleet(max(int(s[3:]) for s in scenarios if s.startswith("ssh")))
            print(f"SSH test hosts: {', '.join(f'{h.address}:{h.port}' for h in hosts)}")
        results["app_boot_seconds"] = app_boot_seconds(workdir, 5)
        results["op_startup_seconds"] = await op_startup(hosts, fleet, workdir, 10)
        for offset, name in enumerate(scenarios):
            port = args.port + offset
            before = wait_quiet(args.max_load, args.quiet_timeout)
            if name == "local":
                require_free(port)
                root = workdir / name / "hosts"
                roots = [str(root)]
                config = base_config(root, port)
            else:
                count = int(name[3:])
                chosen = hosts[:count]
                for h in chosen:
                    require_free(port, h.address)
                config = base_config(workdir / "unused", port)
                config["environments"] = {"bench": ssh_hosts_config(fleet, chosen, port, name)}
                roots = [str(h.root_dir / name) for h in chosen]
            print(f"{name}: load average {before:.2f}", flush=True)
            try:
                results["scenarios"][name] = await run_scenario(
                    name, config, workdir, args.runs, not args.quiet
                )
            finally:
                for root in roots:
                    shutdown_host(root)
            results["loadavg"][name] = [round(before, 2), round(os.getloadavg()[0], 2)]
    finally:
        for root in roots:
            shutdown_host(root)
        if fleet is not None:
            fleet.cleanup()
    results["summary"] = summarize(results)
    return results


def main() -> int:
    try:
        return _main()
    except DeployFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.host} {error.op}: {error.message} {error.hint}", file=sys.stderr)
            for line in error.evidence.get("log_tail", [])[-10:]:
                print(f"    | {line}", file=sys.stderr)
        return 1


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="local,ssh1,ssh5")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=18290, help="nginx port (+1 per scenario)")
    parser.add_argument("--ssh-port", type=int, default=2322, help="first port for test sshd")
    parser.add_argument("--workdir", default="/tmp/sybench/speed")
    parser.add_argument("--max-load", type=float, default=3.0, help="wait for loadavg below")
    parser.add_argument("--quiet-timeout", type=float, default=60.0)
    parser.add_argument(
        "--json-out", help="default: a new bench/results/speed[-VARIANT]-COMMIT-STAMP.json"
    )
    parser.add_argument(
        "--variant",
        help="names a series of its own (e.g. a change under test): speed-VARIANT-COMMIT-STAMP",
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be 1-20")
    results = asyncio.run(main_async(args))
    out = store_result("speed", results, variant=args.variant, out=args.json_out)
    print()
    print(report(results))
    print()
    print(
        f"app boot (median of {len(results['app_boot_seconds'])}): "
        f"{median(results['app_boot_seconds']):.3f}s"
    )
    startup = results["op_startup_seconds"]
    for key, values in startup["wall"].items():
        print(
            f"{key}: median {median(values):.3f}s wall"
            + (
                f", {startup['cpu_seconds_per_op'][key]:.3f} CPU-s per operation"
                if key in startup["cpu_seconds_per_op"]
                else ""
            )
        )
    for key, values in startup.get("login_shell_cpu_seconds", {}).items():
        print(f"{key}: median {median(values):.3f} CPU-s")
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
