"""Why nginx did not start, from its own log lines, as a message a person can act on.

Pure: `reason` reads the lines nginx wrote while it failed; `explain` turns that and
what holds the address (shipyard.host.listeners) into a message and a hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.host.listeners import AddressUse

# "2026/12/01 20:43:07 [emerg] 14803#14803: bind() ..." or "nginx: [emerg] bind() ..."
_LEVEL = re.compile(r"\[(emerg|alert|crit)\]\s+(?:\d+#\d+:\s+)?(?:\*\d+\s+)?(.*)$")
_BIND = re.compile(r"bind\(\) to (\S+) failed \((\d+): ([^)]*)\)")
_NOISE = ("still could not bind()",)

ADDRESS_IN_USE = 98
ADDRESS_NOT_AVAILABLE = 99
PERMISSION_DENIED = 13


@dataclass(frozen=True)
class NginxFailure:
    """What nginx said when it gave up.

    reasons: its distinct emerg/alert/crit messages, in order, without time and pid;
    bind_address: the `listen` address it could not bind (`127.0.0.1:8080`, `[::]:80`);
    errno: the bind error number (98 in use, 99 not an address here, 13 permission).
    """

    reasons: tuple[str, ...]
    bind_address: str | None = None
    errno: int | None = None


def reason(lines: list[str]) -> NginxFailure:
    """The failure in nginx's error-log (or stderr) lines; empty reasons if it said nothing."""
    reasons: list[str] = []
    bind_address: str | None = None
    errno: int | None = None
    for line in lines:
        match = _LEVEL.search(line)
        if match is None:
            continue
        text = match.group(2).strip()
        if not text or text in _NOISE or text in reasons:
            continue
        reasons.append(text)
        bind = _BIND.search(text)
        if bind is not None and bind_address is None:
            bind_address, errno = bind.group(1), int(bind.group(2))
    return NginxFailure(tuple(reasons), bind_address, errno)


def explain(
    failure: NginxFailure, use: AddressUse | None, log_hint: str, is_root: bool
) -> tuple[str, str]:
    """(message, hint) for an nginx that exited while starting.

    `use`: what holds `failure.bind_address` (None when it was not looked up);
    `log_hint`: where the full logs are, e.g. "see /srv/.../logs/nginx-error.log".
    """
    if not failure.reasons:
        return "nginx exited while starting and logged no reason", log_hint
    message = "nginx did not start: " + "; ".join(failure.reasons[:3])
    address = failure.bind_address
    if address is None:
        return message, log_hint
    port = address.rpartition(":")[2]
    if failure.errno == ADDRESS_IN_USE:
        held = _held_by(address, use, is_root)
        return (
            f"{message}; {held}",
            "stop that process or move it, or give this environment another nginx.listen "
            f"in shipyard.yml (`ss -ltnp 'sport = :{port}'` shows who listens there)",
        )
    if failure.errno == ADDRESS_NOT_AVAILABLE:
        host = address.rpartition(":")[0].strip("[]")
        return (
            f"{message}; {host} is not an address of this host",
            "set nginx.listen to an address this host has (`ip -brief address` lists them), "
            "or 0.0.0.0 for all of them",
        )
    if failure.errno == PERMISSION_DENIED:
        return (
            f"{message}; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability",
            "run nginx in system mode, give the nginx binary the capability, or listen on a "
            "port above 1023 behind the host's own proxy (docs/switching.md, "
            "managed or system nginx)",
        )
    return message, log_hint


def _held_by(address: str, use: AddressUse | None, is_root: bool) -> str:
    if use is None or not use.listeners:
        # gone by now, or not a TCP listener we can see (e.g. in another network namespace)
        return f"{address} was taken by another process (it may have let go since)"
    parts = [f"pid {h.pid} ({h.command}, user {h.user})" for h in use.holders[:3]]
    if len(use.holders) > 3:
        parts.append(f"{len(use.holders) - 3} more")
    if use.unseen:
        who = "another user's process" if not is_root else "a process not found in /proc"
        parts.append(f"{who} (run as root to see it)" if not is_root else who)
    where = ", ".join(sorted({f"{item.address}:{item.port}" for item in use.listeners}))
    return f"{address} is held by {', '.join(parts)}, listening on {where}"
