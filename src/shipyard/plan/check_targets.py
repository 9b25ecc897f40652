"""Where each check goes: one target per host for a path through nginx, one for a URL,
an address or a heartbeat. Pure: the configuration in, (host label, URL or address) out."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config.model import Environment, HostEntry
from shipyard.config.observe import Check, HeartbeatProbe, HttpProbe, TcpProbe, TlsProbe
from shipyard.core.addresses import is_wildcard, split_listen
from shipyard.protocol.specs import HttpCheckSpec
from shipyard.transport.target import SshTarget

ONE = "-"  # the host label of a check that is not per host


@dataclass(frozen=True)
class Target:
    host: str  # the host's address in shipyard.yml, or "-"
    where: str  # URL (http), host:port (tcp, tls), the heartbeat's name
    host_header: str | None = None  # nginx's server_name, when it is not the catch-all


def nginx_url(env: Environment, host: HostEntry) -> str:
    """The base URL of a host's nginx for this environment, as seen from serve."""
    address, port = split_listen(env.listen_for(host))
    if is_wildcard(address):
        address = "127.0.0.1" if host.is_local else SshTarget.parse(host.address).host
    return f"http://{address}:{port}"


def targets(env: Environment, check: Check) -> list[Target]:
    if isinstance(check, HttpProbe):
        if check.url is not None:
            return [Target(ONE, check.url)]
        names = [name for name in env.nginx.server_names if name != "_"]
        header = names[0] if names else None
        return [
            Target(h.address, nginx_url(env, h) + (check.path or "/"), header) for h in env.hosts
        ]
    if isinstance(check, TcpProbe | TlsProbe):
        return [Target(ONE, check.address)]
    assert isinstance(check, HeartbeatProbe)
    return [Target(ONE, check.name)]


def http_spec(check: HttpProbe) -> HttpCheckSpec:
    """The probe as the spec `plan/checks.judge_response` judges a response by."""
    return HttpCheckSpec(
        path=check.path or "/",
        status=check.status,
        contains=check.contains,
        json_path=check.json_path,
        equals=check.equals,
    )
