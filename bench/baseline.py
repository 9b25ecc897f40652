"""Baseline: the same load against a plain stop-then-start restart behind nginx.

What many users do today without Shipyard: one app process on a fixed port behind an
ordinary nginx reverse-proxy config, restarted in place (SIGTERM, wait for it to exit,
start the new one). This script starts its own nginx and app (nothing of Shipyard),
drives the same load as bench/zero_downtime.py, restarts the app RESTARTS times and
counts every failed request.

    .venv/bin/python bench/baseline.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from benchlib import EXAMPLE, Event, LoadProcess, machine, require_free, store_result
from loadgen import Sample
from zero_downtime import analyse, report

PERIODS = {
    "quiet": "steady state (before the first / after the last restart)",
    "deploying": "between restarts, outside restart windows",
    "switch": "restart windows",
}
NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {dir}/nginx-access.log;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    client_body_temp_path {dir}/tmp/client;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    upstream app {{
        server 127.0.0.1:{app_port};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""


def healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


class App:
    def __init__(self, app_dir: Path, port: int, log: Path) -> None:
        self.app_dir, self.port, self.log = app_dir, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, release: str) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                ["python3", "app.py", "--port", str(self.port)],
                cwd=self.app_dir,
                env=os.environ | {"SHIPYARD_RELEASE": release},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not healthy(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=18390, help="nginx on 127.0.0.1:PORT")
    parser.add_argument("--app-port", type=int, default=18391)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--rate", type=float, default=200.0, help="req/s per client mode")
    parser.add_argument("--modes", default="keepalive,fresh")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--path", default="/api/sample")
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--pause", type=float, default=4.0, help="seconds between restarts")
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--workdir", default="/tmp/sybench/baseline")
    parser.add_argument(
        "--json-out", help="default: a new bench/results/baseline-COMMIT-STAMP.json"
    )
    args = parser.parse_args()
    if not 1 <= args.restarts <= 50:
        parser.error("--restarts must be 1-50")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "tmp").mkdir(parents=True)
    require_free(args.port)
    require_free(args.app_port)
    app_dir = workdir / "app"
    shutil.copytree(EXAMPLE, app_dir, ignore=shutil.ignore_patterns("__pycache__"))
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=args.port, app_port=args.app_port))
    workdir.chmod(0o755)
    app = App(app_dir, args.app_port, workdir / "app.log")
    nginx: subprocess.Popen[bytes] | None = None
    loads: list[LoadProcess] = []
    events: list[Event] = []
    ops: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "listen_mode": "plain restart",
        "machine": machine(),
        "settings": {
            "restarts": args.restarts,
            "rate": args.rate,
            "modes": modes,
            "window": args.window,
            "path": args.path,
            "connections": args.connections,
        },
    }
    try:
        app.start("r0")
        app.wait_healthy()
        nginx = subprocess.Popen(
            ["nginx", "-p", f"{workdir}/", "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(workdir / "nginx-stderr.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 10
        while not healthy(args.port):
            if time.monotonic() > deadline or nginx.poll() is not None:
                raise RuntimeError("nginx did not come up; see nginx-stderr.log")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{args.port}{args.path}"
        max_seconds = args.restarts * (args.pause + 20) + 2 * args.idle + 30
        loads = [
            LoadProcess(url, m, args.rate, max_seconds, workdir, args.connections) for m in modes
        ]
        for load in loads:
            load.wait_ready()
        load_start = time.monotonic()
        print(f"load: {', '.join(modes)} at {args.rate:g} req/s each -> {url}", flush=True)
        time.sleep(args.idle)
        for i in range(1, args.restarts + 1):
            t0 = time.monotonic()
            events.append(Event(t0, "local", "restart", "start"))
            app.stop()
            app.start(f"r{i}")
            app.wait_healthy()
            t1 = time.monotonic()
            events.append(Event(t1, "local", "restart", "ok"))
            ops.append(
                {
                    "op": "restart",
                    "release": f"r{i}",
                    "start": t0,
                    "end": t1,
                    "switch_start": t0,
                    "switch_end": t1,
                }
            )
            print(f"  restart {i}/{args.restarts}: down-to-healthy {t1 - t0:.2f}s", flush=True)
            time.sleep(args.pause)
        time.sleep(args.idle)
        raw = {load.mode: load.stop() for load in loads}
    finally:
        for load in loads:
            load.kill()
        app.stop()
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
    results["ops"] = [
        {k: (round(v - load_start, 3) if isinstance(v, float) else v) for k, v in o.items()}
        for o in ops
    ]
    results["modes"] = {}
    for mode, rows in raw.items():
        samples = [Sample(**row) for row in rows]
        res = analyse(samples, ops, events, args.window, load_start)
        failed = sorted(s.t - load_start for s in samples if not 200 <= s.status < 300)
        res["outage_seconds_per_restart"] = outages(failed, results["ops"])
        results["modes"][mode] = res
    out = store_result("baseline", results, out=args.json_out)
    print()
    print(report(results, PERIODS))
    for mode, res in results["modes"].items():
        kinds = res["total"]["errors_by_kind"] | {
            f"HTTP {k}": v for k, v in res["total"]["non2xx_by_status"].items()
        }
        print(f"\n{mode}: failures by kind {kinds}")
        print(f"  first-to-last failure per restart (s): {res['outage_seconds_per_restart']}")
    print(f"\nresults in {out}")
    return 0


def outages(failed_times: list[float], ops: list[dict[str, Any]]) -> list[float]:
    """For each restart, seconds from its first failed request to its last."""
    spans = []
    for op in ops:
        inside = [t for t in failed_times if op["start"] - 0.5 <= t <= op["end"] + 0.5]
        spans.append(round(inside[-1] - inside[0], 3) if inside else 0.0)
    return spans


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
