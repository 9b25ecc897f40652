"""Which agent a command talks to: the host's resident agent when it answers as this very
version, else one started for the command. A scripted transport stands in for the host;
the resident agent's own socket server runs for real on a temporary unix socket."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard import __version__
from shipyard.config.loader import ConfigFile
from shipyard.execute.hostclient import HostClient
from shipyard.host import resident
from shipyard.plan import requests
from shipyard.protocol.op import PROTOCOL_VERSION
from shipyard.transport.base import Channel, CommandResult, TransportError


def hello_reply(version: str = __version__, protocol: int = PROTOCOL_VERSION) -> bytes:
    reply = {"ok": True, "version": version, "protocol": protocol, "python": "3.11"}
    reply |= {"hostname": "h", "free_disk_bytes": 1}
    return json.dumps(reply).encode() + b"\n"


class Scripted:
    """A channel that answers every line with `reply`, and records what it was sent."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def request(self, line: bytes, timeout: float | None = None) -> bytes:
        self.sent.append(json.loads(line))
        return self.reply

    async def close(self) -> None:
        self.closed = True


class Transport:
    """A host whose resident agent answers `resident` (None: no socket there)."""

    label = "h1"

    def __init__(self, resident: bytes | None) -> None:
        self.resident = Scripted(resident) if resident is not None else None
        self.started = Scripted(hello_reply())
        self.opened: list[str] = []

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def unix_channel(self, path: str) -> Channel:
        self.opened.append(f"unix {path}")
        if self.resident is None:
            raise TransportError(self.label, f"nothing answers on {path}")
        return self.resident

    async def channel(self, argv: Sequence[str]) -> Channel:
        self.opened.append("spawn " + " ".join(argv[-2:]))
        return self.started

    async def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        raise AssertionError("not used")


@pytest.fixture
def env(tmp_path: Path) -> Any:
    document = {
        "app": "shop",
        "start": "./serve.sh",
        "environments": {"production": {"hosts": ["deploy@h1.test"], "root": "/srv"}},
    }
    (tmp_path / "shipyard.yml").write_text(yaml.safe_dump(document))
    return ConfigFile.load(tmp_path / "shipyard.yml").environment("production")


def hello(env: Any, transport: Transport) -> HostClient:
    client = HostClient(env, env.hosts[0], transport)  # type: ignore[arg-type]
    asyncio.run(client.hello(requests.hello(__version__, PROTOCOL_VERSION)))
    return client


def test_a_command_talks_to_the_resident_agent_when_it_answers_as_this_version(env: Any) -> None:
    transport = Transport(resident=hello_reply())
    client = hello(env, transport)
    socket_path = str(requests.layout(env, env.hosts[0]).agent_socket)
    assert transport.opened == [f"unix {socket_path}"] and client.resident
    assert socket_path.endswith("/shop/production/run/agent.sock")


def test_without_a_resident_agent_the_command_starts_its_own(env: Any) -> None:
    transport = Transport(resident=None)
    client = hello(env, transport)
    assert transport.opened[-1] == "spawn host serve" and not client.resident


def test_a_resident_agent_of_another_version_is_left_alone_for_one_of_our_own(env: Any) -> None:
    transport = Transport(resident=hello_reply(protocol=PROTOCOL_VERSION - 1))
    client = hello(env, transport)
    assert transport.opened[-1] == "spawn host serve" and not client.resident
    assert transport.resident is not None and transport.resident.closed


def test_a_resident_agent_that_refuses_is_replaced_by_one_of_our_own(env: Any) -> None:
    refusal = json.dumps({"ok": False, "error": "code changed: restarting", "hint": ""})
    transport = Transport(resident=refusal.encode() + b"\n")
    client = hello(env, transport)
    assert transport.opened[-1] == "spawn host serve" and not client.resident


def ask(path: Path, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(line)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


def serving(path: Path) -> threading.Thread:
    """The agent serving on PATH in a thread, once it accepts connections: the socket file
    appears at bind, a moment before the server listens (a connection in that moment is
    refused, which made this test flaky)."""
    thread = threading.Thread(target=resident.serve, args=(path,), daemon=True)
    thread.start()
    for _ in range(500):
        if path.exists():
            with socket.socket(socket.AF_UNIX) as probe:
                if probe.connect_ex(str(path)) == 0:
                    break
        threading.Event().wait(0.01)
    return thread


def test_the_resident_agent_answers_on_a_socket_only_its_user_can_open(tmp_path: Path) -> None:
    path = tmp_path / "run" / "agent.sock"
    path.parent.mkdir()
    serving(path)
    assert path.stat().st_mode & 0o777 == 0o600
    root = Path(tempfile.mkdtemp(prefix="syra-", dir="/tmp"))  # short: socket paths
    request = {"root": str(root), "app": "shop", "env": "production"}
    request |= {"operator_version": __version__, "protocol": PROTOCOL_VERSION}
    line = json.dumps({"op": "hello", "request": request}).encode() + b"\n"
    reply = ask(path, line)
    assert reply["ok"] and reply["version"] == __version__, reply
    unknown = ask(path, json.dumps({"op": "no-such-op", "request": {}}).encode() + b"\n")
    assert not unknown["ok"] and "unknown host operation" in unknown["error"]
    shutil.rmtree(root)


def test_the_resident_agent_refuses_and_stops_once_its_code_changed_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "agent.sock"
    thread = serving(path)
    monkeypatch.setattr(resident, "STARTED_ON", "another installation")
    reply = ask(path, json.dumps({"op": "hello", "request": {}}).encode() + b"\n")
    assert not reply["ok"] and "code changed" in reply["error"]
    thread.join(10)
    assert not thread.is_alive()  # supervisord starts it again, on the new code
