"""Call host operations on one host through its transport."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shipyard.config.model import Environment, HostEntry
from shipyard.plan import requests
from shipyard.transport.base import Transport, TransportError
from shipyard.transport.local import LocalTransport
from shipyard.transport.ssh import SshTransport
from shipyard.transport.target import SshTarget


@dataclass
class HostError(Exception):
    """A host operation failed on `host`; evidence holds probes and log lines."""

    host: str
    op: str
    message: str
    hint: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.host}: {self.message}"


class HostClient:
    def __init__(self, env: Environment, entry: HostEntry, transport: Transport) -> None:
        self.env = env
        self.entry = entry
        self.transport = transport

    @property
    def label(self) -> str:
        return self.transport.label

    async def call(
        self, op: str, request: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        payload = requests.base(self.env, self.entry) | (request or {})
        argv = requests.host_argv(self.env, self.entry, op)
        try:
            result = await self.transport.run(
                argv, stdin=json.dumps(payload).encode(), timeout=timeout
            )
        except TransportError as exc:
            raise HostError(self.label, op, exc.message, exc.hint) from None
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        try:
            reply = json.loads(lines[-1]) if lines else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise HostError(
                self.label,
                op,
                f"host operation {op} failed (exit {result.exit_status}): " + " | ".join(detail),
                hint=(
                    f"is shipyard installed there as {self.env.shipyard_command!r}? "
                    "(setting: shipyard_command)"
                ),
            )
        if not reply.get("ok"):
            evidence = {k: v for k, v in reply.items() if k not in ("ok", "error", "hint")}
            raise HostError(
                self.label, op, str(reply.get("error")), str(reply.get("hint") or ""), evidence
            )
        return reply


def transport_for(env: Environment, entry: HostEntry) -> Transport:
    if entry.is_local:
        return LocalTransport()
    return SshTransport(SshTarget.parse(entry.address), env.ssh.options())
