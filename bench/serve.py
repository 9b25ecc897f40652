"""`shipyard serve` under load: 500 HTTP checks at a 10 s interval against local servers.

Measures, over a steady period after a warm-up, the serve process's CPU share of one core
(its own utime+stime from /proc, and separately what its children used: the local host
agents and the alert delivery, reaped ones from its cutime+cstime and living ones from
their own /proc entries) and its RSS (peak and at the end; its children's together
beside it); and, during the same run,
outage-to-alert: a separate check (interval 10 s, fail_after 3) on a server switched to
503 at a logged moment, until its alert reaches a local webhook receiver (apprise
json://). Several outages, each followed by its recovery. Targets: CPU < 5 % of one core,
RSS < 80 MB, outage to alert < interval x fail_after + 2 s.

Where the children's CPU goes is recorded too: every 0.1 s the benchmark lists serve's
child processes (from /proc) and keeps, per kind of child (host agent, alert delivery),
how many it saw start and the CPU each had used when last seen (a lower bound: the last
tenth of a second of a short-lived child can be missed). `--profile FILE` runs serve
under cProfile instead (its stats written to FILE at exit) and stores no result: the
profiler's own cost would be in the figures.

    .venv/bin/python bench/serve.py [--checks 500] [--interval 10] [--steady 360]
                                    [--profile FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml
from benchlib import fmt, machine, source_root, store_result, table

sys.path.insert(0, str(source_root() / "tests"))
from support.switchable import switchable_server
from support.webhook import webhook_receiver

TICKS = os.sysconf("SC_CLK_TCK")


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own, children's) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / TICKS, (cutime + cstime) / TICKS


def child_kind(cmdline: list[str]) -> str:
    """What a child of serve is, from its argv."""
    text = " ".join(cmdline)
    if "shipyard.serve.deliver" in text:
        return "alert delivery"
    if " host " in f" {text} " or "shipyard.host" in text:
        return "host agent"
    return cmdline[0] if cmdline else "?"


def children_of(parent: int) -> dict[int, tuple[str, float, float]]:
    """serve's living child processes: pid -> (kind, CPU seconds with what they reaped,
    RSS in MB)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            cpu = sum(int(x) for x in fields[11:15]) / TICKS
            rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        kind = child_kind([a.decode(errors="replace") for a in argv if a])
        out[int(entry.name)] = (kind, cpu, rss)
    return out


class ChildWatch:
    """serve's child processes seen every 0.1 s: per kind, how many and their CPU."""

    def __init__(self, parent: int) -> None:
        self.parent = parent
        self.seen: dict[int, tuple[str, float]] = {}  # pid -> (kind, CPU seconds)
        self.rss_peak = 0.0  # all living children together, MB
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            living = children_of(self.parent)
            self.rss_peak = max(self.rss_peak, sum(rss for _, _, rss in living.values()))
            for pid, (kind, cpu, _) in living.items():
                if kind == "?" and pid in self.seen:  # exited (no argv left): as it was
                    kind = self.seen[pid][0]
                self.seen[pid] = (kind, cpu)

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for kind, cpu in self.seen.values():
            row = out.setdefault(kind, {"seen": 0, "cpu_seconds_seen": 0.0})
            row["seen"] += 1
            row["cpu_seconds_seen"] = round(row["cpu_seconds_seen"] + cpu, 2)
        return out


def children_cpu(pid: int) -> float:
    """CPU seconds of every child of `pid` so far: those it reaped (cutime + cstime) and
    those still running (a long-lived child's time reaches cutime only when it exits)."""
    _, reaped = cpu_seconds(pid)
    return reaped + sum(cpu for _, cpu, _ in children_of(pid).values())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=500)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--fail-after", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=40.0)
    parser.add_argument("--steady", type=float, default=360.0, help="seconds measured")
    parser.add_argument("--outages", type=int, default=4)
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--profile", default=None, help="cProfile stats file; stores nothing")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sybench-serve-"))
    targets = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    targets.daemon_threads = True
    threading.Thread(target=targets.serve_forever, daemon=True).start()
    target_url = f"http://127.0.0.1:{targets.server_address[1]}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        serve_port = int(probe.getsockname()[1])
    with webhook_receiver() as receiver, switchable_server() as outage_site:
        checks = [
            {"name": f"c{i}", "url": f"{target_url}/c{i}", "interval": args.interval}
            for i in range(args.checks)
        ]
        checks.append(
            {
                "name": "outage",
                "url": f"{outage_site.url}/",
                "interval": args.interval,
                "fail_after": args.fail_after,
                "timeout": 5,
            }
        )
        config = {
            "app": "bench",
            "start": "python3 app.py",
            "alerts": {"channels": ["HOOK"], "remind_every": 0},
            "serve": {
                "listen": f"127.0.0.1:{serve_port}",
                "store": str(work / "serve.db"),
                "secrets": {"HOOK": {"from_env": "BENCH_HOOK"}},
            },
            "environments": {
                "bench": {"hosts": ["local"], "root": str(work / "hosts"), "checks": checks}
            },
        }
        path = work / "shipyard.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        profiler = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        process = subprocess.Popen(
            [sys.executable, *profiler, "-m", "shipyard", "serve", "-c", str(path)],
            env={**os.environ, "BENCH_HOOK": receiver.json_url()},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{serve_port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and process.poll() is None, "serve did not start"
                time.sleep(0.2)
            time.sleep(args.warmup)
            children = ChildWatch(process.pid)
            children.thread.start()
            own0, kids0 = cpu_seconds(process.pid)[0], children_cpu(process.pid)
            wall0 = time.monotonic()
            rss = [rss_mb(process.pid)]
            outages: list[dict[str, float]] = []
            next_outage = wall0 + 5
            end = wall0 + args.steady
            while time.monotonic() < end:
                rss.append(rss_mb(process.pid))
                if len(outages) < args.outages and time.monotonic() >= next_outage:
                    outages.append(_outage(receiver, outage_site, args))
                    next_outage = time.monotonic() + 5
                time.sleep(1)
            own1, kids1 = cpu_seconds(process.pid)[0], children_cpu(process.pid)
            wall = time.monotonic() - wall0
            children.stop.set()
            children.thread.join()
            rss_end = rss_mb(process.pid)
            runs = len(httpx.get(f"{base}/api/checks/bench", timeout=30).json()["results"])
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            targets.shutdown()
    delays = [o["alert_seconds"] for o in outages]
    result = {
        "machine": machine(),
        "settings": {
            "checks": args.checks,
            "interval": args.interval,
            "fail_after": args.fail_after,
            "warmup_seconds": args.warmup,
            "steady_seconds": round(wall, 1),
        },
        "cpu_share_own": round((own1 - own0) / wall, 4),
        "cpu_share_children": round((kids1 - kids0) / wall, 4),
        "children_seen": children.summary(),
        "children_rss_mb_peak": round(children.rss_peak, 1),
        "rss_mb_peak": round(max(rss), 1),
        "rss_mb_end": round(rss_end, 1),
        "checks_reporting": runs,
        "outages": outages,
        "alert_seconds_median": round(statistics.median(delays), 2) if delays else None,
        "alert_seconds_max": round(max(delays), 2) if delays else None,
        "alert_target_seconds": args.interval * args.fail_after + 2,
    }
    if args.profile:
        print(json.dumps(result, indent=2))
        print(f"profile in {args.profile}; no result stored (the profiler's cost is in it)")
        return
    stored = store_result("serve", result, out=args.json_out)
    print(
        table(
            [
                "checks",
                "interval",
                "CPU (own)",
                "CPU (children)",
                "RSS peak",
                "alert median",
                "alert max",
                "target",
            ],
            [
                [
                    str(args.checks),
                    f"{args.interval:g} s",
                    f"{100 * result['cpu_share_own']:.2f} %",
                    f"{100 * result['cpu_share_children']:.2f} %",
                    f"{result['rss_mb_peak']} MB",
                    fmt(result["alert_seconds_median"]) + " s",
                    fmt(result["alert_seconds_max"]) + " s",
                    f"{result['alert_target_seconds']:g} s",
                ]
            ],
        )
    )
    print(f"stored {stored}")


def _outage(receiver: object, site: object, args: argparse.Namespace) -> dict[str, float]:
    """Switch the outage server to 503 until its alert arrives, then back until recovered."""
    posts = receiver.posts  # type: ignore[attr-defined]
    before = len(posts)
    site.up = False  # type: ignore[attr-defined]
    down_at = time.time()
    limit = down_at + args.interval * (args.fail_after + 3) + 30
    while time.time() < limit and not any(
        "[DOWN]" in p.fields.get("title", "") for p in posts[before:]
    ):
        time.sleep(0.05)
    alert = next((p for p in posts[before:] if "[DOWN]" in p.fields.get("title", "")), None)
    site.up = True  # type: ignore[attr-defined]
    up_at = time.time()
    after = len(posts)
    while time.time() < up_at + args.interval * 4 + 30 and not any(
        "[RECOVERED]" in p.fields.get("title", "") for p in posts[after:]
    ):
        time.sleep(0.05)
    recovered = next((p for p in posts[after:] if "[RECOVERED]" in p.fields.get("title", "")), None)
    return {
        "alert_seconds": round(alert.at - down_at, 2) if alert else float("nan"),
        "recovery_seconds": round(recovered.at - up_at, 2) if recovered else float("nan"),
    }


if __name__ == "__main__":
    main()
