"""Render the environment's supervisord.conf: pure text, no I/O.

The programs do not change between deploys: each slot's processes run Shipyard's
launcher, which reads what to run from the slot's spec file at every start. So a deploy
starts and stops programs, and rewrites this file only when the set of worker types
or the drain timeout changes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from shipyard.plan.layout import SLOTS, Layout, program_name


@dataclass(frozen=True)
class SupervisorConfig:
    layout: Layout
    python: str
    nginx_binary: str | None  # None: nginx is the host's own (system mode)
    drain_timeout: float
    workers: tuple[str, ...] = ()


def render(config: SupervisorConfig) -> str:
    layout = config.layout
    python = shlex.quote(config.python)
    base = shlex.quote(str(layout.base))
    stopwait = max(1, round(config.drain_timeout))
    sections = [
        f"""; Written by Shipyard for {layout.app}/{layout.env}. Do not edit.
[unix_http_server]
file={layout.supervisor_socket}
chmod=0700

[supervisord]
logfile={layout.logs}/supervisord.log
logfile_maxbytes=10MB
logfile_backups=3
pidfile={layout.run}/supervisord.pid
directory={layout.base}
umask=027
identifier=shipyard-{layout.app}-{layout.env}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{layout.supervisor_socket}
"""
    ]
    for process in ("web", *config.workers):
        for slot in SLOTS:
            sections.append(
                f"""[program:{program_name(process, slot)}]
command={python} -m shipyard.host.launch {base} {slot} {process}
autostart=false
autorestart=true
startsecs=0
startretries=3
stopsignal=TERM
stopwaitsecs={stopwait}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={layout.slot_log(slot, process)}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=3
"""
            )
    # the environment's own helpers: the resident host agent and the reaper
    sections.append(_helper("agent", f"{python} -m shipyard.host.resident {base}", layout, 1))
    sections.append(_helper("reaper", f"{python} -m shipyard.host.reaper {base}", layout))
    if config.nginx_binary is not None:
        nginx = shlex.quote(config.nginx_binary)
        proxy = shlex.quote(f"{layout.proxy}/")
        sections.append(
            f"""[program:nginx]
command={nginx} -p {proxy} -c {shlex.quote(str(layout.nginx_conf))} -g "daemon off;"
autostart=false
autorestart=true
startsecs=1
stopsignal=QUIT
stopwaitsecs=30
redirect_stderr=true
stdout_logfile={layout.logs}/nginx-stdout.log
stdout_logfile_maxbytes=1MB
"""
        )
    return "\n".join(sections)


def _helper(name: str, command: str, layout: Layout, backups: int | None = None) -> str:
    """A program of Shipyard's own on the host, always up, logging to logs/NAME.log."""
    kept = f"stdout_logfile_backups={backups}\n" if backups is not None else ""
    return f"""[program:{name}]
command={command}
autostart=true
autorestart=true
startsecs=0
redirect_stderr=true
stdout_logfile={layout.logs}/{name}.log
stdout_logfile_maxbytes=1MB
{kept}"""
