"""Render nginx configuration: pure text from typed inputs, no I/O.

Two files per environment:
- server.conf: the environment's log format, upstream and server block. In `system`
  mode the host's nginx includes it at http level; in `managed` mode our nginx.conf does.
- nginx.conf: only in managed mode, a complete main config for a private nginx run with
  `-p <proxy dir>` under the environment's supervisord.

Why these directives are here: docs/switching.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shipyard.plan.layout import SLOTS
from shipyard.plan.routes import ROUTES, route_name
from shipyard.plan.tls_conf import (
    HttpsServer,
    certificate_map,
    challenge_location,
    redirect_location,
    tls_directives,
)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9._*-]+$")


@dataclass(frozen=True)
class ServerBlock:
    app: str
    env: str
    listen: str
    server_names: tuple[str, ...]
    client_max_body_size: str
    access_log: Path
    listen_mode: str  # "socket" | "tcp"
    current_socket: Path
    previous_socket: Path
    route_link: Path  # tcp mode: run/route
    ports: tuple[int, int]  # tcp mode: blue's, green's
    # HTTPS (docs/tls.md): with `https`, plain HTTP redirects there, except the ACME
    # path (`challenges`) and `plain_paths` (the health check, for probes and balancers)
    https: HttpsServer | None = None
    challenges: Path | None = None
    plain_paths: tuple[str, ...] = ()

    @property
    def upstream_name(self) -> str:
        return f"shipyard_{self.app}_{self.env}".replace("-", "_")


def check_server_name(name: str) -> str:
    if name != "_" and not _SAFE_NAME.match(name):
        raise ValueError(f"server name {name!r} has characters nginx would misread")
    return name


def render_server(block: ServerBlock) -> str:
    names = " ".join(check_server_name(name) for name in block.server_names)
    if not re.fullmatch(r"\d+[kKmMgG]?", block.client_max_body_size):
        raise ValueError("client_max_body_size must look like 10m, 512k or 1g")
    upstream = block.upstream_name
    # The backup is the old slot while it is warm, else the active slot itself, so a 5xx
    # on a GET is retried there (on the old release right after a switch), and a retired
    # slot never turns a 500 into a 502.
    retry_on = "error timeout http_500 http_502 http_503 http_504"
    if block.listen_mode == "socket":
        upstreams = f"""upstream {upstream} {{
    server unix:{block.current_socket} max_fails=0;
    server unix:{block.previous_socket} backup max_fails=0;
}}
"""
        route = ""
        target = upstream
    else:
        upstreams = render_tcp_routes(upstream, block.ports)
        route = (
            f"        # the route in force: run/route resolved per request (docs/switching.md)\n"
            f"        root {block.route_link};\n"
        )
        target = f"${upstream}_route"
    proxy = f"""{route}        proxy_pass http://{target};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_connect_timeout 2s;
        proxy_next_upstream {retry_on};
        proxy_next_upstream_tries 2;
"""
    common = f"""    server_name {names};
    client_max_body_size {block.client_max_body_size};
    access_log {block.access_log} {upstream}_log;
"""
    plain = "\n" + challenge_location(block.challenges) if block.challenges else ""
    if block.https is None:
        plain += f"""
    location / {{
{proxy}    }}
"""
        tls_server = ""
    else:
        for path in block.plain_paths:
            plain += f"""
    location = {path} {{
{proxy}    }}
"""
        plain += "\n" + redirect_location(block.https, proxy)
        upstreams += certificate_map(block.https)
        tls_server = f"""
server {{
    listen {block.https.listen} ssl;
{common}{tls_directives(block.https)}
    location / {{
{proxy}    }}
}}
"""
    return f"""# Written by Shipyard for {block.app}/{block.env}. Do not edit: deploys rewrite it.
log_format {upstream}_log '$msec $status $request_time "$upstream_addr" '
                          '"$request_method $request_uri" $body_bytes_sent';

{upstreams}
server {{
    listen {block.listen};
{common}{plain}}}
{tls_server}"""


def render_tcp_routes(upstream: str, ports: tuple[int, int]) -> str:
    """TCP mode: an upstream per route and the map that picks one from `run/route`.

    `$realpath_root` is the `root` (the route symlink) resolved, by nginx, for every
    request, so renaming a new symlink over it moves the next request without a reload.
    """
    port = dict(zip(SLOTS, ports, strict=True))
    entries = "".join(
        f'    "~/routes/{route_name(p, b)}$" {upstream}_{p}_{b};\n' for p, b in ROUTES
    )
    text = (
        f"map $realpath_root ${upstream}_route {{\n"
        f"    default {upstream}_{SLOTS[0]}_{SLOTS[0]};\n{entries}}}\n"
    )
    for p, b in ROUTES:
        text += (
            f"\nupstream {upstream}_{p}_{b} {{\n"
            f"    server 127.0.0.1:{port[p]} max_fails=0;\n"
            f"    server 127.0.0.1:{port[b]} backup max_fails=0;\n}}\n"
        )
    return text


@dataclass(frozen=True)
class MainConfig:
    proxy_dir: Path
    pid_file: Path
    error_log: Path
    server_conf: Path
    worker_user: str | None
    worker_shutdown_timeout: float


def render_main(config: MainConfig) -> str:
    user = f"user {config.worker_user};\n" if config.worker_user else ""
    temp = config.proxy_dir / "tmp"
    timeout = max(1, round(config.worker_shutdown_timeout))
    return f"""# Written by Shipyard: a private nginx for one environment (managed mode).
{user}worker_processes 1;
pid {config.pid_file};
error_log {config.error_log} warn;
worker_shutdown_timeout {timeout}s;

events {{
    worker_connections 4096;
}}

http {{
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65s;
    keepalive_requests 10000;
    server_tokens off;
    client_body_temp_path {temp}/client;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {config.server_conf};
}}
"""
