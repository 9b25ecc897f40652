"""Many SSH hosts: deploy and warm rollback to 1, 5, 10, 20 and 50 hosts, paced and unpaced.

Every host is a real sshd on its own loopback address (127.0.0.11, .12, ...), with its own
nginx, supervisord, resident agent and app slots (tests/support/sshd.py), all on this
machine. Per fleet size: a first deploy, then `--runs` x (deploy of a new commit, warm
rollback), each through Shipyard's pipeline, with the default pacing (`fleet:` defaults:
8 handshakes at a time, 4 attempts). For the sizes in `--unpaced`, the same again with the
previous behaviour (every handshake at once, one attempt: `fleet: {max_connecting: 1000,
connect_attempts: 1}`), on the same hosts.

Then `--burst` addresses behind ONE sshd (16, the most one sshd listens on, with its
default `MaxStartups 10:30:100`, as behind a bastion or on one big server): `--runs` x opening a
session (SSH handshake, agent start-up, hello on every host), paced and unpaced: how many
handshakes sshd dropped, how many were tried again, how many sessions failed.

Records per operation: success, seconds, Shipyard's phase timings, handshakes retried,
and how busy the machine's two cores were (from /proc/stat) during it.

    .venv/bin/python bench/fleet.py                      # sizes 1,5,10,20,50; runs 3
    .venv/bin/python bench/fleet.py --sizes 1,5 --runs 1 # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from benchlib import (
    RecordingReporter,
    base_config,
    commit_version,
    deploy,
    fmt,
    load_env,
    machine,
    make_repo,
    median,
    rollback,
    shutdown_host,
    ssh_hosts_config,
    sshd_support,
    store_result,
    table,
)

from shipyard.errors import ShipyardError
from shipyard.execute.hostclient import Host, Redactor, connect_host
from shipyard.execute.session import Session

UNPACED = {"max_connecting": 1000, "connect_attempts": 1}
PACED = {"max_connecting": 8, "connect_attempts": 4, "retry_backoff": 0.5}  # the defaults
# N apps booting at once on the same two cores as everything else: the benchmark's own
# upper bound for a healthy boot (the demo's 20 s was not enough for 50 on a busy machine)
HEALTH_DEADLINE = 60.0
TARGET = 1.5  # issue 12: 20 hosts within 1.5 x one host's time


def cpu_counters() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def operator_cpu() -> float:
    """CPU seconds this process (the operator: asyncssh, the pipeline) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Counting:
    """A HostFactory that keeps every SSH transport, to read its handshake retries."""

    def __init__(self) -> None:
        self.transports: list[Any] = []

    def __call__(self, env: Any, entry: Any, redact: Redactor) -> Host:
        host = connect_host(env, entry, redact)
        self.transports.append(getattr(host, "transport", None))
        return host

    def retries(self) -> int:
        return sum(int(getattr(t, "handshake_retries", 0)) for t in self.transports)


async def timed(kind: str, action: Any) -> dict[str, Any]:
    counting = Counting()
    busy0, total0 = cpu_counters()
    own0 = operator_cpu()
    started = time.monotonic()
    row: dict[str, Any] = {"kind": kind}
    try:
        result = await action(counting)
        row["ok"] = True
        row["timings"] = dict(getattr(result, "timings", {}) or {})
    except ShipyardError as exc:
        row["ok"] = False
        row["error"] = str(exc)[:400]
        details = getattr(exc, "details", None)
        row["details"] = (details() if callable(details) else [])[:6]
        row["failed_hosts"] = len(getattr(exc, "errors", None) or [])
    row["seconds"] = round(time.monotonic() - started, 3)
    busy1, total1 = cpu_counters()
    row["cpu_busy"] = round((busy1 - busy0) / max(1, total1 - total0), 3)
    row["operator_cpu_seconds"] = round(operator_cpu() - own0, 3)
    row["handshake_retries"] = counting.retries()
    text = " ".join([row.get("error", ""), *row.get("details", [])]).lower()
    row["dropped"] = sum(text.count(w) for w in ("dropped the ssh handshake", "reset by peer"))
    return row


def write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(config, sort_keys=False))


async def fleet_size(
    n: int, fleet: Any, hosts: list[Any], workdir: Path, port: int, runs: int, unpaced: bool
) -> dict[str, Any]:
    chosen = hosts[:n]
    config = base_config(workdir / "unused", port)
    config["health"]["deadline"] = HEALTH_DEADLINE
    config["environments"] = {"bench": ssh_hosts_config(fleet, chosen, port, f"n{n}")}
    repo = workdir / f"repo-{n}"
    config_path = make_repo(repo, config)
    rows: list[dict[str, Any]] = []
    version = [0]

    async def op(kind: str, pacing: str) -> None:
        if kind == "deploy":
            version[0] += 1
            commit_version(repo, f"1.{version[0]}.0")

            async def action(counting: Counting) -> Any:
                return await deploy(config_path, kind, RecordingReporter(), hosts=counting)
        else:

            async def action(counting: Counting) -> Any:
                return await rollback(config_path, kind, RecordingReporter(), hosts=counting)

        row = await timed(kind, action)
        row["pacing"] = pacing
        rows.append(row)
        state = "ok" if row["ok"] else f"FAILED: {row.get('error', '')[:120]}"
        print(
            f"  {n:>2} hosts {pacing:>7} {kind:<8} {row['seconds']:6.2f}s "
            f"cpu {row['cpu_busy']:.0%} retries {row['handshake_retries']} {state}",
            flush=True,
        )

    try:
        await op("deploy", "first")
        for pacing in ["paced", *(["unpaced"] if unpaced else [])]:
            config["fleet"] = UNPACED if pacing == "unpaced" else {}
            if not config["fleet"]:
                del config["fleet"]
            write_config(config_path, config)
            subprocess.run(
                ["git", "-C", str(repo), "commit", "-qam", pacing], check=False, capture_output=True
            )
            for _ in range(runs):
                await op("deploy", pacing)
                await op("rollback", pacing)
    finally:
        for h in chosen:
            shutdown_host(str(h.root_dir / f"n{n}"))
    return {"hosts": n, "rows": rows}


MAX_LISTEN_SOCKS = 16  # OpenSSH's compiled-in limit of ListenAddress sockets per sshd


class SharedSshd:
    """One sshd listening on every address of `hosts` (default MaxStartups 10:30:100)."""

    def __init__(self, sshd: Any, fleet: Any, hosts: list[Any], port: int) -> None:
        if len(hosts) > MAX_LISTEN_SOCKS:
            raise SystemExit(f"one sshd listens on at most {MAX_LISTEN_SOCKS} addresses")
        self.dir = fleet.base / "shared-sshd"
        self.dir.mkdir(exist_ok=True)
        self.key = self.dir / "host_ed25519"
        public = sshd.keygen(self.key, "host@shared")
        self.port = port
        self.log = self.dir / "sshd.log"
        listen = "".join(f"ListenAddress {h.address}:{port}\n" for h in hosts)
        (self.dir / "sshd_config").write_text(
            listen
            + f"HostKey {self.key}\nPidFile {self.dir}/sshd.pid\n"
            + f"AuthorizedKeysFile {hosts[0].authorized_keys}\n"
            + "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            + "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\n"
            + f"SetEnv {sshd.MARKER_VAR}={self.dir}\nLogLevel INFO\n"
        )
        key_type, key = public.split()[:2]
        self.known_hosts = self.dir / "known_hosts"
        self.known_hosts.write_text(
            "".join(f"[{h.address}]:{port} {key_type} {key}\n" for h in hosts)
        )
        self.process = subprocess.Popen(
            [sshd.SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while "Server listening" not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"shared sshd did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        time.sleep(0.5)  # every ListenAddress bound
        if self.process.poll() is not None:
            raise SystemExit(f"shared sshd exited:\n{self.log.read_text()}")

    def drops(self) -> int:
        return self.log.read_text(errors="replace").count("past MaxStartups")

    def stop(self) -> None:
        with_pgid = os.getpgid(self.process.pid)
        os.killpg(with_pgid, signal.SIGTERM)
        self.process.wait(timeout=10)


async def burst(
    sshd: Any, fleet: Any, hosts: list[Any], workdir: Path, port: int, runs: int
) -> dict[str, Any]:
    shared = SharedSshd(sshd, fleet, hosts, port)
    rows: list[dict[str, Any]] = []
    try:
        for pacing in ("paced", "unpaced"):
            config = base_config(workdir / "unused", 18900)
            env = ssh_hosts_config(fleet, hosts, 18900, "burst")
            for entry, h in zip(env["hosts"], hosts, strict=True):
                entry["address"] = f"root@{h.address}:{port}"
            env["ssh"]["known_hosts"] = str(shared.known_hosts)
            config["environments"] = {"bench": env}
            if pacing == "unpaced":
                config["fleet"] = UNPACED
            path = workdir / f"burst-{pacing}.yml"
            write_config(path, config)
            environment = load_env(path)
            for _ in range(runs):
                before = shared.drops()

                async def action(counting: Counting, environment: Any = environment) -> Any:
                    session = Session(environment, RecordingReporter(), hosts=counting)
                    try:
                        await session.open()
                    finally:
                        await session.close()
                    return session

                row = await timed("session", action)
                row["pacing"] = pacing
                row["sshd_dropped"] = shared.drops() - before
                rows.append(row)
                state = "ok" if row["ok"] else f"FAILED: {row.get('error', '')[:100]}"
                print(
                    f"  burst {len(hosts)} hosts, one sshd, {pacing:>7}: {row['seconds']:6.2f}s "
                    f"sshd dropped {row['sshd_dropped']}, retried "
                    f"{row['handshake_retries']} {state}",
                    flush=True,
                )
                await asyncio.sleep(1.0)
    finally:
        shared.stop()
    return {"hosts": len(hosts), "rows": rows}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for n, size in results["sizes"].items():
        for pacing in ("paced", "unpaced"):
            rows = [r for r in size["rows"] if r["pacing"] == pacing]
            if not rows:
                continue
            entry: dict[str, Any] = {}
            for kind in ("deploy", "rollback"):
                mine = [r for r in rows if r["kind"] == kind]
                ok = [r["seconds"] for r in mine if r["ok"]]
                entry[kind] = {
                    "runs": len(mine),
                    "succeeded": len(ok),
                    "median_seconds": round(median(ok), 3) if ok else None,
                    "median_connect": round(
                        median([r["timings"].get("connect", 0.0) for r in mine if r["ok"]]), 3
                    )
                    if ok
                    else None,
                    "median_cpu_busy": round(median([r["cpu_busy"] for r in mine]), 3),
                    "median_operator_cpu": round(
                        median([r.get("operator_cpu_seconds", 0.0) for r in mine]), 3
                    ),
                    "handshake_retries": sum(r["handshake_retries"] for r in mine),
                    "dropped": sum(r["dropped"] for r in mine),
                }
            summary[f"{n}-{pacing}"] = entry
    one = summary.get("1-paced")
    for entry in summary.values():
        for kind in ("deploy", "rollback"):
            base = one[kind]["median_seconds"] if one else None
            mine = entry[kind]["median_seconds"]
            entry[kind]["x_one_host"] = round(mine / base, 2) if base and mine else None
    if results.get("burst"):
        for pacing in ("paced", "unpaced"):
            rows = [r for r in results["burst"]["rows"] if r["pacing"] == pacing]
            summary[f"burst-{pacing}"] = {
                "runs": len(rows),
                "succeeded": sum(r["ok"] for r in rows),
                "sshd_dropped": sum(r["sshd_dropped"] for r in rows),
                "hosts_not_reached": sum(r.get("failed_hosts", 0) for r in rows),
                "handshake_retries": sum(r["handshake_retries"] for r in rows),
                "median_seconds": round(median([r["seconds"] for r in rows if r["ok"]]), 3)
                if any(r["ok"] for r in rows)
                else None,
            }
    return summary


def report(summary: dict[str, Any]) -> str:
    rows = []
    for key, entry in summary.items():
        if key.startswith("burst"):
            continue
        n, pacing = key.split("-")
        d, r = entry["deploy"], entry["rollback"]
        rows.append(
            [
                n,
                pacing,
                f"{d['succeeded']}/{d['runs']}",
                fmt(d["median_seconds"]),
                fmt(d["x_one_host"]),
                f"{r['succeeded']}/{r['runs']}",
                fmt(r["median_seconds"]),
                fmt(r["x_one_host"]),
                fmt(r["median_connect"]),
                f"{d['median_cpu_busy']:.0%}",
                str(d["handshake_retries"] + r["handshake_retries"]),
            ]
        )
    text = table(
        [
            "hosts",
            "pacing",
            "deploys ok",
            "deploy s",
            "x 1 host",
            "rollbacks ok",
            "rollback s",
            "x 1 host",
            "connect s",
            "CPU busy (deploy)",
            "retries",
        ],
        rows,
    )
    burst_rows = [
        [
            key.split("-")[1],
            f"{e['succeeded']}/{e['runs']}",
            str(e["sshd_dropped"]),
            str(e["handshake_retries"]),
            fmt(e["median_seconds"]),
        ]
        for key, e in summary.items()
        if key.startswith("burst")
    ]
    if burst_rows:
        text += "\n\n" + table(
            ["one sshd", "sessions ok", "sshd dropped", "retried", "median s"], burst_rows
        )
    return text


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    unpaced = {int(s) for s in args.unpaced.split(",") if s.strip()}
    results: dict[str, Any] = {
        "machine": machine(),
        "runs": args.runs,
        "sizes": {},
        "settings": {
            "paced": PACED,
            "unpaced": UNPACED,
            "sizes": sizes,
            "unpaced_sizes": sorted(unpaced),
            "burst_hosts": args.burst,
            "burst_runs": args.burst_runs,
            "health_deadline": HEALTH_DEADLINE,
            "target_x_one_host": TARGET,
            "test_sshd_max_startups": "50:30:100 (one sshd per host)",
            "burst_sshd_max_startups": "sshd default 10:30:100 (one sshd for all)",
            "health_interval": 0.2,
            "observe": base_config(workdir, 1).get("observe"),
        },
    }
    sshd = sshd_support()
    fleet = sshd.SshFleet(port=args.ssh_port)
    fleet.base.chmod(0o711)
    try:
        hosts = fleet(max([*sizes, args.burst]))
        for h in hosts:
            for path in [h.root_dir, *h.root_dir.parents]:
                if str(path).startswith("/tmp/"):
                    path.chmod(path.stat().st_mode | 0o005)
        print(f"{len(hosts)} SSH test hosts from {hosts[0].address}:{hosts[0].port}", flush=True)
        for n in sizes:
            results["sizes"][str(n)] = await fleet_size(
                n, fleet, hosts, workdir, args.port, args.runs, n in unpaced
            )
        if args.burst:
            results["burst"] = await burst(
                sshd, fleet, hosts[: args.burst], workdir, args.ssh_port + 500, args.burst_runs
            )
    finally:
        fleet.cleanup()
    results["summary"] = summarize(results)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,5,10,20,50")
    parser.add_argument("--unpaced", default="20,50", help="sizes also run unpaced")
    parser.add_argument("--runs", type=int, default=3, help="deploy + rollback pairs per size")
    parser.add_argument(
        "--burst", type=int, default=MAX_LISTEN_SOCKS, help="addresses behind one sshd (0: skip)"
    )
    parser.add_argument("--burst-runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=18490, help="nginx port on every host")
    parser.add_argument("--ssh-port", type=int, default=2422, help="first port for test sshd")
    parser.add_argument("--workdir", default="/tmp/sybench/fleet")
    parser.add_argument("--json-out", help="default: a new bench/results/fleet-COMMIT-STAMP.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(report(results["summary"]))
    print(f"stored {store_result('fleet', results, out=args.json_out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
