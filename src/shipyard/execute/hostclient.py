"""Call host operations on one host through its transport."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from shipyard.config.model import Environment, HostEntry
from shipyard.plan import requests
from shipyard.transport.base import Channel, Transport, TransportError
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
        self._channel: Channel | None = None
        self._lock = asyncio.Lock()

    @property
    def label(self) -> str:
        return self.transport.label

    async def call(
        self,
        op: str,
        request: dict[str, Any] | None = None,
        timeout: float | None = None,
        *,
        oneshot: bool = False,
    ) -> dict[str, Any]:
        """Run one host operation.

        Operations go to one long-running `shipyard host serve` per host (a round trip
        each); `oneshot` starts a process of its own instead, for calls that must not
        queue behind a long operation (the lock heartbeat).
        """
        payload = requests.base(self.env, self.entry) | (request or {})
        try:
            if oneshot:
                text, exit_status, stderr = await self._run_once(op, payload, timeout)
            else:
                text, exit_status, stderr = await self._via_channel(op, payload, timeout), 0, ""
        except TransportError as exc:
            raise HostError(self.label, op, exc.message, exc.hint) from None
        return self._reply(op, text, exit_status, stderr)

    async def _run_once(
        self, op: str, payload: dict[str, Any], timeout: float | None
    ) -> tuple[str, int, str]:
        argv = requests.host_argv(self.env, self.entry, op)
        result = await self.transport.run(argv, stdin=json.dumps(payload).encode(), timeout=timeout)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        return (lines[-1] if lines else ""), result.exit_status, result.stderr or result.stdout

    async def _via_channel(self, op: str, payload: dict[str, Any], timeout: float | None) -> str:
        async with self._lock:
            fresh = self._channel is None
            if self._channel is None:
                self._channel = await self.transport.channel(
                    requests.host_argv(self.env, self.entry, "serve")
                )
            line = json.dumps({"op": op, "request": payload}).encode() + b"\n"
            try:
                return (await self._channel.request(line, timeout)).decode()
            except TransportError as exc:
                self._channel = None
                if fresh:
                    raise TransportError(
                        exc.host,
                        f"the Shipyard agent on this host did not answer: {exc.message}",
                        f"is shipyard installed there as {self.env.shipyard_command!r}? "
                        "(setting: shipyard_command); else: " + exc.hint,
                    ) from None
                raise
            except BaseException:
                # cancelled mid-request: the reply may still come; never read it as the
                # answer to the next request
                channel, self._channel = self._channel, None
                if channel is not None:
                    asyncio.get_running_loop().create_task(channel.close())
                raise

    def _reply(self, op: str, text: str, exit_status: int, stderr: str) -> dict[str, Any]:
        try:
            reply = json.loads(text) if text else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            detail = (stderr or text).strip().splitlines()[-5:]
            raise HostError(
                self.label,
                op,
                f"host operation {op} failed (exit {exit_status}): " + " | ".join(detail),
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

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
        await self.transport.close()


def transport_for(env: Environment, entry: HostEntry) -> Transport:
    if entry.is_local:
        return LocalTransport()
    return SshTransport(SshTarget.parse(entry.address), env.ssh.options())
