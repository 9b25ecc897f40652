"""TCP mode's ways to switch traffic, side by side under the same load (issue 12, item 6).

One private nginx 1.22 on 127.0.0.1:PORT in front of two small threaded Python HTTP
servers ("slots", each answering with its own X-Release), and the load generators of
bench/loadgen.py (keep-alive, keep-alive that checks idle connections, one fresh
connection per request) at RATE requests/s each. Per option, SWITCHES switches, GAP
seconds apart, alternating between the two slots, with IDLE seconds of load before and
after. Every request is counted. nginx gets Shipyard's settings in every option (no
upstream keepalive, `proxy_next_upstream error timeout http_500 ... ; tries 2`, the other
slot as `backup`, `keepalive_timeout 65s`, `worker_shutdown_timeout 10s`), unless the
option is about changing one of them:

- `reload`: rewrite an included upstream file (new slot, old as backup) and
  `nginx -s reload` (Shipyard's tcp mode before routes);
- `reload-lingering`: the same with `lingering_close always`, `lingering_time 30s`,
  `keepalive_timeout 300s` (can client connections be kept across a reload?);
- `reload-no-keepalive`: the same with `keepalive_timeout 0`: every response says
  `Connection: close`, so no client connection is idle when old workers exit;
- `nft`: nginx's upstream names two fixed ports; an nftables `redirect` in the output
  hook sends the first to the active slot's port, the second to the backup's; a switch
  replaces both rules in one `nft -f` transaction (needs root and nftables);
- `reuseport`: both slots bind one fixed port with SO_REUSEPORT; a switch starts the new
  slot's process on it, then the old one stops accepting and exits once idle (a socket
  hand-over the kernel does; the app must set SO_REUSEPORT itself);
- `route`: what Shipyard ships (plan/nginx_conf.py, `render_tcp_routes`): an upstream per
  (active, backup) pair, picked per request from `$realpath_root` of a symlink that the
  switch renames.

    .venv/bin/python bench/tcp_options.py                      # every option, as root
    .venv/bin/python bench/tcp_options.py --options route,reload --switches 10

Results go to a new bench/results/tcp_options-COMMIT-STAMP.json and a Markdown table is
printed. Loopback only; nginx, the slots, the load generators and the nftables table are
removed at the end, also on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import LoadProcess, fmt, machine, require_free, store_result, table
from loadgen import Sample, summarize

from shipyard.plan.nginx_conf import render_tcp_routes

OPTIONS = ("reload", "reload-lingering", "reload-no-keepalive", "nft", "reuseport", "route")
NFT_TABLE = "shipyard_bench_tcp"
UPSTREAM = "bench_tcp"
NFT_CREATE = f"""table ip {NFT_TABLE} {{
    chain out {{
        type nat hook output priority -100;
    }}
}}
"""

SLOT_SERVER = r"""
import signal, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

name, port, reuse = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "reuseport"

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(0.002)  # a little work
        body = f"{name}\n".encode()
        self.send_response(200)
        self.send_header("X-Release", name)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    def server_bind(self):
        if reuse:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

server = Server(("127.0.0.1", port), Handler)

def stop_accepting(*_):  # the hand-over: stop accepting, finish what was accepted, exit
    def run():
        server.shutdown()
        server.server_close()
        time.sleep(2)
        sys.exit(0)
    threading.Thread(target=run).start()

signal.signal(signal.SIGTERM, stop_accepting)
print("ready", flush=True)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Slot:
    def __init__(self, workdir: Path, name: str, port: int, reuseport: bool = False) -> None:
        script = workdir / "slot_server.py"
        if not script.exists():
            script.write_text(SLOT_SERVER)
        self.name, self.port = name, port
        self.process = subprocess.Popen(
            [sys.executable, str(script), name, str(port), "reuseport" if reuseport else "-"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"slot {name} did not start on port {port}")

    def stop_accepting(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()


class Nginx:
    def __init__(self, workdir: Path, port: int, option: str, backends: str, route: str) -> None:
        self.dir = workdir / "nginx"
        shutil.rmtree(self.dir, ignore_errors=True)
        (self.dir / "tmp").mkdir(parents=True)
        keepalive = {"reload-lingering": "300s", "reload-no-keepalive": "0"}.get(option, "65s")
        extra = (
            "    lingering_close always;\n    lingering_time 30s;\n    lingering_timeout 5s;\n"
            if option == "reload-lingering"
            else ""
        )
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(f"""worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
worker_shutdown_timeout 10s;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_timeout {keepalive};
    keepalive_requests 10000;
{extra}    client_body_temp_path {self.dir}/tmp;
    proxy_temp_path {self.dir}/tmp;
    fastcgi_temp_path {self.dir}/tmp;
    uwsgi_temp_path {self.dir}/tmp;
    scgi_temp_path {self.dir}/tmp;
{backends}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{route}            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout http_500 http_502 http_503 http_504;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
""")
        self.run("-t", "-q")
        self.run()

    def run(self, *args: str) -> None:
        argv = ["nginx", "-p", f"{self.dir}/", "-c", str(self.conf), *args]
        subprocess.run(argv, check=True, capture_output=True, text=True)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.run("-s", "stop")
        time.sleep(0.3)


def nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)


def nft_rules(fixed: tuple[int, int], active: int, backup: int) -> str:
    return (
        f"flush chain ip {NFT_TABLE} out\n"
        f"add rule ip {NFT_TABLE} out ip daddr 127.0.0.1 tcp dport {fixed[0]} "
        f"redirect to :{active}\n"
        f"add rule ip {NFT_TABLE} out ip daddr 127.0.0.1 tcp dport {fixed[1]} "
        f"redirect to :{backup}\n"
    )


def atomic_symlink(target: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


class Option:
    """One way to switch: start it with both slots up, switch back and forth, stop it."""

    def __init__(self, name: str, workdir: Path, port: int) -> None:
        self.name, self.workdir, self.port = name, workdir, port
        self.slots: list[Slot] = []
        self.fixed = (free_port(), free_port())
        self.upstream_file = workdir / "upstream.conf"
        self.route = workdir / "run" / "route"
        ports = (free_port(), free_port())
        self.ports = ports
        route = "            proxy_pass http://" + UPSTREAM + ";\n"
        if name.startswith("reload"):
            self.upstream_file.write_text(self._servers(ports[0], ports[1]))
            backends = f"    upstream {UPSTREAM} {{ include {self.upstream_file}; }}\n"
        elif name == "nft":
            nft(NFT_CREATE)
            nft(nft_rules(self.fixed, ports[0], ports[1]))
            backends = self._upstream(self._servers(*self.fixed))
        elif name == "reuseport":
            backends = self._upstream(self._servers(self.fixed[0], self.fixed[0]))
        else:
            for primary in ("blue", "green"):
                for backup in ("blue", "green"):
                    (workdir / "run" / "routes" / f"{primary}-{backup}").mkdir(parents=True)
            atomic_symlink("routes/blue-green", self.route)
            backends = render_tcp_routes(UPSTREAM, ports)
            route = (
                f"            root {self.route};\n"
                f"            proxy_pass http://${UPSTREAM}_route;\n"
            )
        if name == "reuseport":
            self.slots = [Slot(workdir, "blue", self.fixed[0], reuseport=True)]
        else:
            self.slots = [Slot(workdir, "blue", ports[0]), Slot(workdir, "green", ports[1])]
        self.nginx = Nginx(workdir, port, name, backends, route)
        self.active = 0

    @staticmethod
    def _servers(primary: int, backup: int) -> str:
        return (
            f"server 127.0.0.1:{primary} max_fails=0;\n"
            f"server 127.0.0.1:{backup} backup max_fails=0;\n"
        )

    @staticmethod
    def _upstream(servers: str) -> str:
        inner = "".join(f"        {line}\n" for line in servers.splitlines())
        return f"    upstream {UPSTREAM} {{\n{inner}    }}\n"

    def switch(self) -> None:
        new, old = 1 - self.active, self.active
        names = ("blue", "green")
        if self.name.startswith("reload"):
            self.upstream_file.write_text(self._servers(self.ports[new], self.ports[old]))
            self.nginx.run("-s", "reload")
        elif self.name == "nft":
            nft(nft_rules(self.fixed, self.ports[new], self.ports[old]))
        elif self.name == "reuseport":
            started = Slot(self.workdir, names[new], self.fixed[0], reuseport=True)
            self.slots[-1].stop_accepting()
            self.slots.append(started)
        else:
            atomic_symlink(f"routes/{names[new]}-{names[old]}", self.route)
        self.active = new

    def stop(self) -> None:
        self.nginx.stop()
        for slot in self.slots:
            slot.kill()
        if self.name == "nft":
            with contextlib.suppress(subprocess.CalledProcessError):
                nft(f"delete table ip {NFT_TABLE}")


def flips(samples: list[Sample]) -> int:
    """How often the answering release changed, in send order (fresh: the switches seen)."""
    releases = [s.release for s in sorted(samples, key=lambda s: s.t) if s.release]
    return sum(1 for a, b in itertools.pairwise(releases) if a != b)


def run_option(name: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir) / name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    require_free(args.port)
    option = Option(name, workdir, args.port)
    loads: list[LoadProcess] = []
    url = f"http://127.0.0.1:{args.port}/"
    try:
        seconds = args.idle * 2 + args.switches * args.gap + 30
        for mode in args.modes:
            loads.append(LoadProcess(url, mode, args.rate, seconds, workdir, args.connections))
        for load in loads:
            load.wait_ready()
        time.sleep(args.idle)
        times = []
        for _ in range(args.switches):
            t0 = time.monotonic()
            option.switch()
            times.append(time.monotonic() - t0)
            time.sleep(max(0.0, args.gap - (time.monotonic() - t0)))
        time.sleep(args.idle)
        raw = {load.mode: load.stop() for load in loads}
    finally:
        for load in loads:
            load.kill()
        option.stop()
    result: dict[str, Any] = {"switch_seconds_max": round(max(times), 4), "modes": {}}
    for mode, rows in raw.items():
        samples = [Sample(**row) for row in rows]
        summary = summarize(samples)
        summary["release_changes_seen"] = flips(samples)
        result["modes"][mode] = summary
    return result


def report(results: dict[str, Any]) -> str:
    rows = []
    for name, res in results["options"].items():
        for mode, s in res["modes"].items():
            failed = s["non2xx"] + s["conn_errors"]
            rows.append(
                [
                    name,
                    mode,
                    str(s["requests"]),
                    f"**{failed}**",
                    str(s["stale_keepalive"]),
                    str(s["release_changes_seen"]),
                    fmt(s["p50_ms"], 1),
                    fmt(s["p99_ms"], 1),
                ]
            )
    headers = ["option", "client", "requests", "failed", "of them stale keep-alive"]
    headers += ["release changes seen", "p50 ms", "p99 ms"]
    return table(headers, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--options", default=",".join(OPTIONS))
    parser.add_argument("--port", type=int, default=18590, help="nginx on 127.0.0.1:PORT")
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between switches")
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of load before/after")
    parser.add_argument("--rate", type=float, default=150.0, help="req/s per client mode")
    parser.add_argument("--modes", default="keepalive,keepalive-checked,fresh")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--workdir", default="/tmp/sybench/tcp-options")
    parser.add_argument("--json-out", help="default: a new bench/results/tcp_options-...json")
    args = parser.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    options = [o.strip() for o in args.options.split(",") if o.strip()]
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise SystemExit(f"unknown options: {', '.join(sorted(unknown))}")
    if "nft" in options and (os.geteuid() != 0 or shutil.which("nft") is None):
        raise SystemExit("the nft option needs root and nftables (apt-get install nftables)")
    results: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            k: getattr(args, k) for k in ("switches", "gap", "idle", "rate", "modes", "connections")
        },
        "options": {},
    }
    for name in options:
        print(f"{name} ...", flush=True)
        results["options"][name] = run_option(name, args)
        res = results["options"][name]
        print(
            "  "
            + json.dumps(
                {
                    m: (r["non2xx"] + r["conn_errors"], r["requests"])
                    for m, r in res["modes"].items()
                }
            ),
            flush=True,
        )
    results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = store_result("tcp_options", results, out=args.json_out)
    print()
    print(report(results))
    print(f"\nresults in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
