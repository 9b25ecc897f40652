"""What `shipyard setup` makes on a host, as data: named steps of idempotent operations.

`build_plan` turns an environment, the host's facts and the wheelhouse into a JSON-able
plan that the pyinfra runner (`shipyard.provision.runner`, a subprocess of its own)
carries out: each operation is one of a few kinds (`apt`, `user`, `directory`, `file`,
`absent`, `link`, `venv`, `upload`, `unpack`, `pip`, `service`, `command`, `keygen`) and
pyinfra decides whether it changes anything. Every file's text is decided here. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.config.model import Environment
from shipyard.plan.layout import Layout
from shipyard.plan.serve_install import SERVE_UNIT, ServeInstall, serve_unit
from shipyard.plan.setup_facts import HostFacts

# In order: the names progress and failures use. `facts` runs before anything changes.
STEPS = (
    "facts",
    "packages",
    "deploy-user",
    "shipyard",
    "nginx",
    "boot-units",
    "linger",
    "firewall",
    "upgrades",
    "logrotate",
    "sshd",
    "serve",
    "backup-schedule",  # after pyinfra, through Shipyard itself (execute/setup.py)
)
# Debian/Ubuntu package names; supervisord comes with Shipyard's venv (a dependency)
PACKAGES = (
    "nginx",
    "python3-venv",
    "sudo",
    "restic",
    "postgresql-client",
    "unattended-upgrades",
    "nftables",
    "logrotate",
    "ca-certificates",
)
NGINX_INCLUDE_DIR = "/etc/nginx/shipyard.d"
NGINX_WRAPPER = "shipyard-nginx"  # in /usr/local/bin: the deploy user's nginx, via sudo
NGINX_SBIN = "/usr/sbin/nginx"
SHIPYARD_LINK = "/usr/local/bin/shipyard"
WHEELS_DIR = "/opt/shipyard/wheels"
UNITS_DIR = "/etc/systemd/system"
WANTS_DIR = f"{UNITS_DIR}/multi-user.target.wants"
LINGER_DIR = "/var/lib/systemd/linger"  # logind: users whose manager runs without a login


@dataclass(frozen=True)
class Step:
    name: str
    ops: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class HostPlan:
    """One host: how pyinfra reaches it, and its steps."""

    label: str  # as the environment names it
    hostname: str
    port: int
    user: str
    sudo: bool
    steps: list[Step]


def required_settings(env: Environment) -> list[str]:
    """What the environment must say for a host that setup makes (empty: all fine)."""
    problems = []
    nginx = env.nginx
    if nginx.mode != "system":
        problems.append("nginx.mode: system (setup installs the host's nginx)")
    if nginx.include_dir != NGINX_INCLUDE_DIR:
        problems.append(f"nginx.include_dir: {NGINX_INCLUDE_DIR}")
    if nginx.binary != NGINX_WRAPPER:
        problems.append(f"nginx.binary: {NGINX_WRAPPER} (nginx through sudo, for the deploy user)")
    if nginx.pid_file != "/run/nginx.pid":
        problems.append("nginx.pid_file: /run/nginx.pid")
    if env.shipyard_command not in ("shipyard", SHIPYARD_LINK, f"{env.setup.venv}/bin/shipyard"):
        problems.append(f"shipyard_command: shipyard (setup links {SHIPYARD_LINK})")
    for host in env.hosts:
        user = host.address.partition("@")[0] if "@" in host.address else None
        if user != env.setup.deploy_user:
            problems.append(
                f"hosts: {host.address} as {env.setup.deploy_user}@... (the deploy user)"
            )
    return problems


def build_host_plan(
    env: Environment,
    label: str,
    hostname: str,
    port: int,
    facts: HostFacts,
    keys: Sequence[str],
    archive: tuple[str, str],
    shipyard_pin: str,
    serve: ServeInstall | None = None,
) -> HostPlan:
    """The steps for one host. keys: public key lines; archive: the local wheelhouse tar
    and its sha256; serve: what the serve step installs (`setup.serve`)."""
    setup = env.setup
    user = setup.deploy_user
    layout = Layout(Path(env.root_for(_entry(env, label))), env.app, env.name)
    unit = unit_name(env)
    steps = [
        Step("packages", [{"op": "apt", "packages": list(PACKAGES)}]),
        Step(
            "deploy-user",
            [
                {"op": "user", "name": user, "home": f"/home/{user}", "keys": list(keys)},
                {"op": "directory", "path": str(layout.root), "user": user, "mode": "755"},
            ],
        ),
        Step("shipyard", _shipyard_ops(setup.venv, archive, shipyard_pin)),
        Step("nginx", _nginx_ops(user, facts.systemd)),
        Step(
            "boot-units",
            [
                {"op": "directory", "path": "/etc/shipyard", "user": "root", "mode": "755"},
                _file(repair_config_path(env), repair_config(env), "644"),
                _file(f"{UNITS_DIR}/{unit}", repair_unit(env, layout), "644"),
                *_daemon_reload(facts.systemd, when_changed=[2]),
                _service(unit, f"{UNITS_DIR}/{unit}", facts.systemd, start=False),
            ],
        ),
    ]
    if schedules_backups(env, label):
        steps.append(Step("linger", _linger_ops(user, facts.systemd)))
    if setup.firewall:
        steps.append(
            Step(
                "firewall",
                [
                    _file("/etc/nftables.conf", nftables_conf(port), "755"),
                    _service(
                        "nftables.service", "/lib/systemd/system/nftables.service", facts.systemd
                    ),
                    *_restart("nftables.service", facts.systemd, [0]),
                ],
            )
        )
    if setup.unattended_upgrades:
        steps.append(
            Step("upgrades", [_file("/etc/apt/apt.conf.d/20auto-upgrades", AUTO_UPGRADES, "644")])
        )
    steps.append(
        Step("logrotate", [_file(f"/etc/logrotate.d/{unit[:-8]}", logrotate(layout, user), "644")])
    )
    sshd_path = "/etc/ssh/sshd_config.d/00-shipyard.conf"
    sshd_ops: list[dict[str, Any]] = (
        [{"op": "absent", "path": sshd_path}]
        if setup.ssh_password_login
        else [_file(sshd_path, SSHD_NO_PASSWORDS, "644")]
    )
    if facts.systemd:
        sshd_ops.append(
            {
                "op": "command",
                "argv": ["sh", "-c", "sshd -t && systemctl reload ssh"],
                "when_changed": [0],
            }
        )
    steps.append(Step("sshd", sshd_ops))
    if serve is not None:
        steps.append(Step("serve", serve_ops(serve, facts.systemd)))
    return HostPlan(label, hostname, port, setup.user, setup.user != "root", steps)


def schedules_backups(env: Environment, label: str) -> bool:
    """Whether setup installs the backup timers on this host: the primary of an
    environment with `backup.schedule` enabled (as the deploy user's own units)."""
    backup = env.backup
    return backup is not None and backup.schedule.enabled and env.primary.address == label


def _linger_ops(user: str, systemd: bool) -> list[dict[str, Any]]:
    """The deploy user's systemd runs from boot, without a login, so its timers fire:
    the file logind reads at start, and with systemd running `loginctl enable-linger`
    (which also starts that manager now)."""
    ops = [_file(f"{LINGER_DIR}/{user}", "", "644")]
    if systemd:
        ops.append({"op": "command", "argv": ["loginctl", "enable-linger", user],
                    "when_changed": [0]})  # fmt: skip
    return ops


def _entry(env: Environment, label: str) -> Any:
    return next(host for host in env.hosts if host.address == label)


def _file(path: str, content: str, mode: str, user: str = "root") -> dict[str, Any]:
    return {"op": "file", "path": path, "content": content, "mode": mode, "user": user}


def _service(name: str, unit_path: str, systemd: bool, *, start: bool = True) -> dict[str, Any]:
    """Enabled at boot; with systemd running, also started now."""
    return {
        "op": "service",
        "name": name,
        "unit_path": unit_path,
        "wants_link": f"{WANTS_DIR}/{name}",
        "systemd": systemd,
        "start": start and systemd,
    }


def _daemon_reload(systemd: bool, when_changed: list[int]) -> list[dict[str, Any]]:
    """With systemd running: reload its units, only after setup changed a unit file (a
    reload on every run would make a second setup report a change)."""
    if not systemd:
        return []
    return [{"op": "command", "argv": ["systemctl", "daemon-reload"], "when_changed": when_changed}]


def _restart(name: str, systemd: bool, when_changed: list[int]) -> list[dict[str, Any]]:
    """With systemd running: reload (or restart) a service after its files changed."""
    if not systemd:
        return []
    argv = ["systemctl", "reload-or-restart", name]
    return [{"op": "command", "argv": argv, "when_changed": when_changed}]


def _shipyard_ops(venv: str, archive: tuple[str, str], pin: str) -> list[dict[str, Any]]:
    """The wheelhouse as one archive, unpacked once (a marker file says it is whole),
    then this exact version from it, with no package index."""
    version = pin.partition("==")[2]
    where = f"{WHEELS_DIR}/{version}"
    pip = f"{venv}/bin/pip"
    reinstall = [pip, "install", "-q", "--no-index", "--find-links", where, "--force-reinstall"]
    reinstall += ["--no-deps", pin]
    return [
        {"op": "directory", "path": WHEELS_DIR, "user": "root", "mode": "755"},
        {"op": "upload", "src": archive[0], "dest": f"{where}.tar"},
        {"op": "unpack", "archive": f"{where}.tar", "dest": where, "digest": archive[1]},
        {"op": "venv", "path": venv},
        {"op": "pip", "venv": venv, "packages": [pin], "find_links": where},
        # same version, other code (a .dev build): the wheels changed, so install again
        {"op": "command", "argv": reinstall, "when_changed": [2]},
        {"op": "link", "path": SHIPYARD_LINK, "target": f"{venv}/bin/shipyard"},
    ]


def serve_ops(serve: ServeInstall, systemd: bool) -> list[dict[str, Any]]:
    """`shipyard serve` for its own user: home, config, secrets (0600, marked so the
    runner never names their content), known_hosts, a key made on the host (its public
    line is reported back), the unit; restarted when any of those changed."""
    paths = serve.paths
    user = paths.user
    ops: list[dict[str, Any]] = [
        {"op": "apt", "packages": ["openssh-client"]},  # ssh-keygen
        {"op": "user", "name": user, "home": paths.home, "keys": []},
    ]
    ops += [
        {"op": "directory", "path": path, "user": user, "mode": mode}
        for path, mode in paths.directories()
    ]
    watched = [len(ops)]
    ops.append(_file(paths.config, serve.config_text, "600", user))
    for name, value in sorted(serve.secrets.items()):
        watched.append(len(ops))
        ops.append({**_file(paths.secret(name), value, "600", user), "secret": True})
    watched.append(len(ops))
    ops.append(_file(paths.known_hosts, serve.known_hosts, "600", user))
    ops.append(
        {"op": "keygen", "path": paths.key, "user": user, "comment": f"shipyard-serve@{user}"}
    )
    unit = len(ops)
    watched.append(unit)
    ops.append(_file(f"{UNITS_DIR}/{SERVE_UNIT}", serve_unit(paths, SHIPYARD_LINK), "644"))
    ops += _daemon_reload(systemd, when_changed=[unit])  # the service op does not reload
    ops.append(_service(SERVE_UNIT, f"{UNITS_DIR}/{SERVE_UNIT}", systemd))
    ops += _restart(SERVE_UNIT, systemd, watched)
    return ops


def _nginx_ops(user: str, systemd: bool) -> list[dict[str, Any]]:
    include = f"include {NGINX_INCLUDE_DIR}/*.conf;\n"
    return [
        {"op": "directory", "path": NGINX_INCLUDE_DIR, "user": user, "mode": "755"},
        _file("/etc/nginx/conf.d/shipyard.conf", include, "644"),
        {"op": "absent", "path": "/etc/nginx/sites-enabled/default", "link": True},
        _file(f"/usr/local/bin/{NGINX_WRAPPER}", NGINX_WRAPPER_TEXT, "755"),
        _file("/etc/sudoers.d/shipyard-nginx", sudoers(user), "440"),
        _service("nginx.service", "/lib/systemd/system/nginx.service", systemd),
        *_restart("nginx.service", systemd, [1, 2]),
    ]


NGINX_WRAPPER_TEXT = f"""#!/bin/sh
# Written by `shipyard setup`: the host's nginx for the deploy user, through sudo
# (/etc/sudoers.d/shipyard-nginx allows start, -t -q and -s reload only).
exec sudo -n {NGINX_SBIN} "$@"
"""


def sudoers(user: str) -> str:
    return (
        "# Written by `shipyard setup`: the deploy user may start, test and reload nginx\n"
        f'{user} ALL=(root) NOPASSWD: {NGINX_SBIN} "", {NGINX_SBIN} -t -q, '
        f"{NGINX_SBIN} -s reload\n"
    )


AUTO_UPGRADES = """// Written by `shipyard setup`: security upgrades every day (unattended-upgrades'
// own 50unattended-upgrades chooses the security origins)
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
"""

SSHD_NO_PASSWORDS = """# Written by `shipyard setup` (setup.ssh_password_login: false): keys only.
# First match wins in sshd_config, so this file sorts before the others.
PasswordAuthentication no
KbdInteractiveAuthentication no
"""


def nftables_conf(ssh_port: int) -> str:
    ports = ", ".join(str(p) for p in sorted({ssh_port, 22, 80, 443}))
    return f"""#!/usr/sbin/nft -f
# Written by `shipyard setup` (setup.firewall): in, only SSH, HTTP and HTTPS.
flush ruleset

table inet filter {{
  chain input {{
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    ct state invalid drop
    meta l4proto {{ icmp, ipv6-icmp }} accept
    tcp dport {{ {ports} }} accept
  }}
  chain forward {{
    type filter hook forward priority 0; policy drop;
  }}
  chain output {{
    type filter hook output priority 0; policy accept;
  }}
}}
"""


def logrotate(layout: Layout, user: str) -> str:
    return f"""# Written by `shipyard setup`: logs of {layout.app}/{layout.env}
{layout.logs}/*.log {{
    su {user} {user}
    daily
    rotate 14
    maxsize 100M
    missingok
    notifempty
    compress
    delaycompress
    copytruncate
}}
"""


def unit_name(env: Environment) -> str:
    return f"shipyard-{env.app}-{env.name}.service"


def repair_config_path(env: Environment) -> str:
    return f"/etc/shipyard/{env.app}-{env.name}.yml"


# what `shipyard repair` on the host itself needs to rebuild supervisord's and nginx's
# configuration exactly as deploys wrote it (docs/reliability.md#a-host-restarts)
_REPAIR_KEYS = ("root", "listen_mode", "ports", "nginx", "health", "drain_timeout", "shared")


def repair_config(env: Environment) -> str:
    data = env.model_dump(mode="json", include=set(_REPAIR_KEYS))
    settings: dict[str, Any] = {"app": env.app, "start": "unused-by-repair", **data}
    if env.workers:
        settings["workers"] = {name: {"command": "unused-by-repair"} for name in env.workers}
    settings["environments"] = {env.name: {"hosts": ["local"]}}
    header = (
        f"# Written by `shipyard setup` for {env.app}/{env.name}: what `shipyard repair` "
        "needs at boot.\n# No secrets: each slot restarts from its own env file.\n"
    )
    return header + yaml.safe_dump(settings, sort_keys=False)


def repair_unit(env: Environment, layout: Layout) -> str:
    request = json.dumps({"root": str(layout.root), "app": env.app, "env": env.name})
    user = env.setup.deploy_user
    return f"""# Written by `shipyard setup`
[Unit]
Description=Shipyard: bring {env.app}/{env.name} back at boot (supervisord, the active release)
Wants=network-online.target nginx.service
After=network-online.target nginx.service

[Service]
Type=oneshot
# supervisord (started by repair) stays in this unit: keep the unit active
RemainAfterExit=yes
User={user}
Environment=SHIPYARD_ACTOR=systemd
ExecStart={SHIPYARD_LINK} repair {env.name} --config {repair_config_path(env)} --lock-wait 120
# an orderly stop at shutdown: slots drain, nginx quits
ExecStop={SHIPYARD_LINK} host shutdown --request '{request}'
TimeoutStartSec=300

[Install]
WantedBy=multi-user.target
"""


def plan_json(hosts: Sequence[HostPlan], *, check: bool) -> str:
    """The runner's stdin: one JSON document: public keys and file texts; with
    `setup.serve`, serve's secrets as file contents (ops marked `secret`), on stdin only."""
    return json.dumps(
        {
            "check": check,
            "hosts": [
                {
                    "label": host.label,
                    "hostname": host.hostname,
                    "port": host.port,
                    "user": host.user,
                    "sudo": host.sudo,
                    "steps": [{"name": s.name, "ops": s.ops} for s in host.steps],
                }
                for host in hosts
            ],
        }
    )
