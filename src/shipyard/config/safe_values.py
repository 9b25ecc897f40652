"""Values that reach a generated file, checked for that file's syntax: in one place.

shipyard.yml values end up unquoted in supervisord.conf (an INI file where `%` starts an
interpolation, `;` a comment and a newline a new setting) and in nginx.conf (where
whitespace separates parameters, `;` ends a directive and `{`/`}` open and close blocks).
Rather than quote for two syntaxes, every such value is held to a small alphabet that
means the same in both, here, and the models use these checks. Every pattern is matched
whole (`fullmatch`, ASCII only): `$` would let a trailing newline through, and `\\d`
would accept digits of other scripts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from pathlib import PurePosixPath
from typing import Annotated

from pydantic import AfterValidator

from shipyard.transport.target import SshTarget

_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?", re.ASCII)
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
# paths written into supervisord.conf and nginx.conf: no space, `;`, `%`, `#`, quotes...
_PATH = re.compile(r"[A-Za-z0-9._/~+@,=-]+", re.ASCII)
PATH_CHARACTERS = "letters, digits and . _ / ~ + @ , = -"
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}", re.ASCII)
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(value: str, limit: int = 60) -> str:
    """A value quoted for a message, cut short: messages never echo a megabyte."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def is_name(value: str) -> bool:
    """App, environment and worker names: lowercase letters, digits and '-', 1-40 long."""
    return _NAME.fullmatch(value) is not None


def is_env_key(value: str) -> bool:
    return _ENV_KEY.fullmatch(value) is not None


def check_path(value: str) -> str:
    """A path that goes unquoted into supervisord.conf or nginx.conf."""
    if not _PATH.fullmatch(value):
        raise ValueError(
            f"{shown(value)}: a path here may use only {PATH_CHARACTERS} "
            "(it is written into supervisord.conf and nginx.conf as it is)"
        )
    return value


def check_listen(value: str) -> str:
    """nginx `listen ADDRESS:PORT`: an IPv4 address, [IPv6], `*` or a host name."""
    host, sep, port = value.rpartition(":")
    usage = "must be ADDRESS:PORT, e.g. 127.0.0.1:8080, 0.0.0.0:80 or [::]:80"
    if not sep or not _PORT.fullmatch(port) or not 0 < int(port) < 65536:
        raise ValueError(f"{shown(value)} {usage} (port 1-65535)")
    if not _listen_host(host):
        raise ValueError(f"{shown(value)} {usage}; {shown(host)} is not an address")
    return value


def _listen_host(host: str) -> bool:
    if host == "*":
        return True
    if host.startswith("[") and host.endswith("]"):
        return _is_ip(host[1:-1], version=6)
    if re.fullmatch(r"[0-9.]+", host):
        return _is_ip(host, version=4)
    return _HOSTNAME.fullmatch(host) is not None


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def check_server_name(value: str) -> str:
    """An nginx `server_name`: `_`, or letters, digits, `.`, `-` and `*`."""
    if value != "_" and not re.fullmatch(r"[A-Za-z0-9.*-]{1,253}", value, re.ASCII):
        raise ValueError(f"server name {shown(value)}: use letters, digits, '.', '-' or '*'")
    return value


def check_nginx_size(value: str) -> str:
    """nginx sizes: `10m`, `512k`, `1g`, `4096` (ASCII digits)."""
    if not re.fullmatch(r"[0-9]{1,12}[kKmMgG]?", value):
        raise ValueError("write a size like 10m, 512k or 1g")
    return value


def check_worker_user(value: str) -> str:
    """nginx `user USER [GROUP];`."""
    parts = value.split(" ")
    if not 1 <= len(parts) <= 2 or not all(_USER.fullmatch(part) for part in parts):
        raise ValueError(f"{shown(value)}: write a user name, or a user and a group: www-data")
    return value


def check_shared_path(value: str) -> str:
    """A path of `shared.dirs`/`shared.files`: relative, inside the release, printable."""
    if _CONTROL.search(value):
        raise ValueError(f"{shown(value)} has a control character (newline, tab, NUL...)")
    parts = PurePosixPath(value).parts
    if not parts or value.startswith("/") or ".." in parts:
        raise ValueError(f"{shown(value)} must be a relative path inside the release")
    return value


def check_host_address(value: str) -> str:
    """`local`, or an SSH target `[user@]host[:port]`, exactly (no surrounding spaces)."""
    if value != value.strip():
        raise ValueError(f"{shown(value)}: remove the spaces around the host")
    if value != "local":
        SshTarget.parse(value)
    return value


def host_identity(address: str) -> tuple[object, ...]:
    """What makes two host entries the same host: u@h, u@H and u@h:22 are one."""
    if address == "local":
        return ("local",)
    target = SshTarget.parse(address)
    host = target.host.lower()
    with contextlib.suppress(ValueError):
        host = ipaddress.ip_address(host).compressed
    return (target.user, host, target.port or 22)


SafePath = Annotated[str, AfterValidator(check_path)]
ListenAddress = Annotated[str, AfterValidator(check_listen)]
NginxSize = Annotated[str, AfterValidator(check_nginx_size)]
WorkerUser = Annotated[str, AfterValidator(check_worker_user)]
HostAddress = Annotated[str, AfterValidator(check_host_address)]
