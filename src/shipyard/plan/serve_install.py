"""What setup's `serve` step installs (`setup.serve: true`), as text decided here. Pure.

On the host, serve runs as `setup.serve_user` under systemd (`shipyard-serve.service`)
with everything in that user's home:

    ~/.config/shipyard/serve/shipyard.yml   the operator's file, rewritten for the host
    ~/.config/shipyard/serve/secrets/NAME   one 0600 file per secret serve reads
    ~/.config/shipyard/serve/known_hosts    the watched hosts' keys (strict, as everywhere)
    ~/.ssh/shipyard-serve_ed25519           serve's own key, made on the host
    ~/.local/state/shipyard/serve.db        the store (the unit's only writable path)

`host_config` rewrites the operator's parsed file: SSH goes through serve's own key and
known_hosts (no ssh config file, no trust on first use), each secret serve reads is
referenced by its file, the store is in the state directory, relative roots are made
absolute as the operator reads them. `known_hosts_lines` picks the watched hosts' lines
out of the operator's known_hosts (hashed entries too).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVE_UNIT = "shipyard-serve.service"
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ServePaths:
    """Where serve's files are on the host, for `user`."""

    user: str

    @property
    def home(self) -> str:
        return f"/home/{self.user}"

    @property
    def config_dir(self) -> str:
        return f"{self.home}/.config/shipyard/serve"

    @property
    def config(self) -> str:
        return f"{self.config_dir}/shipyard.yml"

    @property
    def secrets_dir(self) -> str:
        return f"{self.config_dir}/secrets"

    @property
    def known_hosts(self) -> str:
        return f"{self.config_dir}/known_hosts"

    @property
    def key(self) -> str:
        return f"{self.home}/.ssh/shipyard-serve_ed25519"

    @property
    def state_dir(self) -> str:
        return f"{self.home}/.local/state/shipyard"

    @property
    def store(self) -> str:
        return f"{self.state_dir}/serve.db"

    def directories(self) -> list[tuple[str, str]]:
        """(path, mode) of every directory serve's files need, parents first: each is
        made and owned by the user (a parent made by `mkdir -p` would be root's)."""
        home = self.home
        return [
            (home, "750"),
            (f"{home}/.config", "700"),
            (f"{home}/.config/shipyard", "700"),
            (self.config_dir, "700"),
            (self.secrets_dir, "700"),
            (f"{home}/.ssh", "700"),
            (f"{home}/.local", "700"),
            (f"{home}/.local/state", "700"),
            (self.state_dir, "700"),
        ]

    def secret(self, name: str) -> str:
        return f"{self.secrets_dir}/{name}"


@dataclass(frozen=True)
class SecretNeed:
    """One secret serve reads: its file's name on the host, and where the value is named
    (`env` empty: one of `serve.secrets`; otherwise that environment's `secrets:`)."""

    file: str
    name: str
    env: str = ""


@dataclass(frozen=True)
class ServeInstall:
    """Everything the serve step writes, decided on the operator's machine. `secrets`
    maps a file name to its value: it only ever travels on the runner's stdin."""

    paths: ServePaths
    config_text: str
    secrets: dict[str, str]
    known_hosts: str


def secret_needs(
    channels: Sequence[str],
    store_secret: str | None,
    heartbeat_tokens: Mapping[str, Iterable[str]],
) -> list[SecretNeed]:
    """The secrets serve reads: the alert channels' URLs, the store's URL, and each
    environment's heartbeat tokens (env name -> secret names)."""
    needs = [SecretNeed(f"serve.{name}", name) for name in dict.fromkeys(channels)]
    if store_secret is not None and store_secret not in channels:
        needs.append(SecretNeed(f"serve.{store_secret}", store_secret))
    for env, names in heartbeat_tokens.items():
        needs.extend(SecretNeed(f"{env}.{name}", name, env) for name in dict.fromkeys(names))
    for need in needs:
        if not _FILE_NAME.match(need.file):
            raise ValueError(f"secret {need.name!r} cannot be a file name on the host")
    return needs


def host_config(
    data: Mapping[str, Any], paths: ServePaths, needs: Sequence[SecretNeed], config_dir: Path
) -> dict[str, Any]:
    """The operator's parsed shipyard.yml as serve reads it on the host."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    ssh = {"identity_file": paths.key, "known_hosts": paths.known_hosts}
    out["ssh"] = {**_without_local_ssh(out.get("ssh")), **ssh}
    _anchor_root(out, config_dir)
    environments = out.get("environments") or {}
    for env in environments.values():
        if not isinstance(env, dict):
            continue
        if isinstance(env.get("ssh"), dict):
            env["ssh"] = {**_without_local_ssh(env["ssh"]), **ssh}
        _anchor_root(env, config_dir)
        for host in env.get("hosts") or []:
            if isinstance(host, dict):
                _anchor_root(host, config_dir)
    serve = out.setdefault("serve", {})
    secrets = serve.setdefault("secrets", {})
    for need in needs:
        # from_env: None overrides a from_env of the operator's (settings merge key by key)
        ref = {"from_env": None, "from_file": paths.secret(need.file)}
        if not need.env:
            secrets[need.name] = ref
        else:
            env_secrets = environments[need.env].setdefault("secrets", {})
            env_secrets[need.name] = ref
    if serve.get("store_secret") is None:
        serve["store"] = paths.store
    return out


def _without_local_ssh(section: object) -> dict[str, Any]:
    """The operator's ssh settings less what names files on the operator's machine and
    trust on first use (serve on the host checks keys strictly, against its own file)."""
    if not isinstance(section, dict):
        return {}
    dropped = ("config_file", "trust_unknown_hosts", "identity_file", "known_hosts")
    return {k: v for k, v in section.items() if k not in dropped}


def _anchor_root(section: dict[str, Any], config_dir: Path) -> None:
    root = section.get("root")
    if isinstance(root, str) and not Path(root).expanduser().is_absolute():
        section["root"] = str(config_dir / root)


def config_text(config: Mapping[str, Any], source: str) -> str:
    header = (
        f"# Written by `shipyard setup` (setup.serve) from {source}: what `shipyard serve` "
        "reads on this host.\n# Secrets are referenced by file (secrets/, mode 0600); "
        "edits here are replaced by the next setup.\n"
    )
    return header + yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)


def known_hosts_lines(text: str, hosts: Iterable[tuple[str, int]]) -> tuple[str, list[str]]:
    """The lines of a known_hosts file that name one of `hosts` ((host, port)), and the
    hosts no line names (as `host` or `[host]:port`), in order."""
    wanted = {_known_name(host, port): (host, port) for host, port in hosts}
    kept: list[str] = []
    found: set[str] = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        patterns = fields[1] if fields[0].startswith("@") and len(fields) > 1 else fields[0]
        matched = [name for name in wanted if _matches(patterns, name)]
        if matched:
            kept.append(line.strip())
            if not fields[0].startswith("@revoked"):
                found.update(matched)
    missing = [name for name in wanted if name not in found]
    return "".join(f"{line}\n" for line in kept), missing


def _known_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _matches(patterns: str, name: str) -> bool:
    """OpenSSH's host patterns: comma-separated, `*`/`?` wildcards, `!` negates, and
    hashed names (`|1|salt|hash`, HMAC-SHA1 of the name)."""
    if patterns.startswith("|1|"):
        salt, _, digest = patterns[3:].partition("|")
        try:
            key, expected = base64.b64decode(salt), base64.b64decode(digest)
        except ValueError:
            return False
        return hmac.compare_digest(hmac.new(key, name.encode(), hashlib.sha1).digest(), expected)
    positive = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _wildcard(pattern.lstrip("!")).fullmatch(name):
            if negated:
                return False
            positive = True
    return positive


def _wildcard(pattern: str) -> re.Pattern[str]:
    """`*` and `?` only: brackets are literal in OpenSSH (`[host]:port`), unlike fnmatch."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


def serve_unit(paths: ServePaths, shipyard: str) -> str:
    """systemd's unit for serve: unprivileged, everything read-only but its state."""
    return f"""# Written by `shipyard setup` (setup.serve)
[Unit]
Description=shipyard serve: checks, alerts, dashboard
Wants=network-online.target
After=network-online.target

[Service]
User={paths.user}
Group={paths.user}
WorkingDirectory={paths.config_dir}
ExecStart={shipyard} serve --config {paths.config}
Restart=always
RestartSec=5
TimeoutStopSec=60
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={paths.state_dir}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
"""
