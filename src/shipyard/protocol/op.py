"""A host operation: its name and the types of its request and reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from shipyard.protocol.common import Probe

Req = TypeVar("Req")
Rep = TypeVar("Rep")

# 3: records carry the runtime spec; 4: status may skip probes; 5: tls-csr, kept TLS keys;
# 6: phase events carry their time and a failure's probes and log lines
PROTOCOL_VERSION = 6
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # one request line; a build's env values fit easily
# One reply line: `history -n 1000` is about 2 MiB, `logs -n 10000` of 2 KiB lines 20 MiB.
# The agent answers a failure instead of a larger reply; both transports read up to it.
MAX_REPLY_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Scope:
    """Which environment on the host an operation is about: `<root>/<app>/<env>/`.

    On the wire its fields travel in the same JSON object as the operation's own.
    """

    root: str
    app: str
    env: str


@dataclass(frozen=True)
class Op(Generic[Req, Rep]):
    """One host operation. `HostClient.call(op, request)` sends a `request` of type Req
    and returns the host's reply decoded as Rep."""

    name: str
    request: type[Req]
    reply: type[Rep]


@dataclass(frozen=True)
class Empty:
    """A request or reply with no fields."""


@dataclass(frozen=True)
class Failure:
    """What the agent answers when an operation fails (`"ok": false` on the wire)."""

    error: str
    hint: str
    probes: list[Probe]
    log_tail: list[str]
    version: str  # the agent's Shipyard version, so any operator can say what runs there
