"""A reply from the resident agent may be as long as any reply (MAX_REPLY_BYTES): a cold
rollback reads 200 history records through it, far more than asyncio's 64 KiB default
line limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shipyard.transport.local import LocalTransport


def test_a_reply_longer_than_asyncios_default_line_limit_arrives_whole(tmp_path: Path) -> None:
    reply = b'{"ok": true, "text": "' + b"x" * (1024 * 1024) + b'"}\n'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(reply)
        await writer.drain()
        writer.close()

    async def scenario() -> bytes:
        path = str(tmp_path / "agent.sock")
        server = await asyncio.start_unix_server(answer, path=path)
        async with server:
            channel = await LocalTransport().unix_channel(path)
            try:
                return await channel.request(b'{"op": "history"}\n', timeout=10)
            finally:
                await channel.close()

    assert asyncio.run(scenario()) == reply
