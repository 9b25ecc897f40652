"""Reply lines of any size up to the bound, on the local transport's channel (item 9)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from shipyard.transport.base import TransportError
from shipyard.transport.lines import LineReader, LineTooLong
from shipyard.transport.local import LocalTransport

ECHO_BIG = "import sys\nfor n in sys.stdin: print('y' * int(n), flush=True)\n"


def test_a_channel_reply_of_several_mib_arrives_whole_and_the_next_one_too() -> None:
    async def main() -> list[bytes]:
        channel = await LocalTransport().channel([sys.executable, "-c", ECHO_BIG])
        try:
            return [await channel.request(b"%d\n" % n, timeout=30) for n in (3_000_000, 5)]
        finally:
            await channel.close()

    big, small = asyncio.run(main())
    assert big == b"y" * 3_000_000 + b"\n"
    assert small == b"yyyyy\n"


def test_a_line_past_the_bound_is_refused_instead_of_read_forever() -> None:
    chunks = [b"z" * 1000] * 5 + [b"\n"]

    async def read(_n: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    async def main() -> None:
        await LineReader(read, limit=2500).readline()

    with pytest.raises(LineTooLong, match="over"):
        asyncio.run(main())


def test_lines_split_across_chunks_come_back_one_by_one_then_the_rest_at_the_end() -> None:
    chunks = [b"ab", b"c\nde", b"f\ng\n", b"tail"]

    async def read(_n: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    async def main() -> list[bytes]:
        reader = LineReader(read, limit=100)
        return [await reader.readline() for _ in range(5)]

    assert asyncio.run(main()) == [b"abc\n", b"def\n", b"g\n", b"tail", b""]


def test_a_channel_whose_reply_passes_the_bound_is_a_transport_error_saying_to_ask_less(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shipyard.transport.local.MAX_REPLY_BYTES", 1024 * 1024)

    async def main() -> None:
        channel = await LocalTransport().channel([sys.executable, "-c", ECHO_BIG])
        try:
            await channel.request(b"2000000\n", timeout=30)
        finally:
            await channel.close()

    with pytest.raises(TransportError, match="over 1 MiB") as caught:
        asyncio.run(main())
    assert "smaller -n" in caught.value.hint


def test_the_agent_answers_a_failure_instead_of_a_reply_past_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shipyard.host import agent

    monkeypatch.setattr(agent, "MAX_REPLY_BYTES", 1024 * 1024)
    small = json.loads(agent.reply_line({"ok": True, "lines": ["a"] * 10}))
    assert small == {"ok": True, "lines": ["a"] * 10}
    big = json.loads(agent.reply_line({"ok": True, "lines": ["a" * 1000] * 2000}))
    assert big["ok"] is False
    assert "over the 1 MiB a reply may be" in big["error"] and "smaller -n" in big["hint"]
