"""Reach this machine: the Transport as plain subprocesses, no shell in between."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path

from shipyard.protocol.op import MAX_REPLY_BYTES
from shipyard.transport.base import (
    Channel,
    CommandResult,
    TransportError,
    reply_too_long_hint,
)
from shipyard.transport.lines import LineReader, LineTooLong
from shipyard.transport.stream import StreamChannel

log = logging.getLogger(__name__)

LABEL = "local"


def _check_argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, str) or not argv:
        raise ValueError(f"argv must be a non-empty list of strings, not {argv!r}")
    return list(argv)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill a child started in its own session, and whatever it started there."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _exit_status(returncode: int) -> int:
    """Shell style, like the SSH transport: 128 + n for death by signal n."""
    return 128 - returncode if returncode < 0 else returncode


class _LocalChannel:
    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.process = process
        self.name = name
        assert process.stdout is not None
        self.replies = LineReader(process.stdout.read, MAX_REPLY_BYTES)

    async def request(self, line: bytes, timeout: float | None = None) -> bytes:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            async with asyncio.timeout(timeout):
                stdin.write(line)
                await stdin.drain()
                reply = await self.replies.readline()
        except LineTooLong as exc:
            await self._kill()  # out of step: whatever it says next answers nothing
            raise TransportError(
                LABEL, f"`{self.name}` answered with {exc}", reply_too_long_hint(exc.limit)
            ) from None
        except TimeoutError:
            await self.close()
            raise TransportError(
                LABEL, f"`{self.name}` did not answer within {timeout:g}s", "it was stopped"
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            reply = b""
        if not reply:
            await self.close()
            raise TransportError(LABEL, f"`{self.name}` exited unexpectedly", "run it again")
        return reply

    async def close(self) -> None:
        if self.process.returncode is None:
            if self.process.stdin is not None:
                with contextlib.suppress(Exception):
                    self.process.stdin.close()
            try:
                async with asyncio.timeout(5):
                    await self.process.wait()
            except TimeoutError:
                await self._kill()

    async def _kill(self) -> None:
        """Kill the process group and read what it left in the pipe, so the exit is
        seen (asyncio waits for the pipe too, and a full pipe is not being read)."""
        _kill_group(self.process)
        assert self.process.stdout is not None
        while await self.process.stdout.read(1 << 20):
            pass
        await self.process.wait()


class LocalTransport:
    """The Transport for this machine."""

    def __repr__(self) -> str:
        return "LocalTransport()"

    @property
    def label(self) -> str:
        return LABEL

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def unix_channel(self, path: str) -> Channel:
        try:
            reader, writer = await asyncio.open_unix_connection(path, limit=MAX_REPLY_BYTES)
        except OSError as exc:
            raise TransportError(LABEL, f"nothing answers on {path}: {exc}") from None
        return StreamChannel(reader, writer, LABEL, f"the agent on {path}")

    async def _spawn(
        self, argv: list[str], *, stdin: int, stderr: int
    ) -> asyncio.subprocess.Process | CommandResult:
        """Start argv; a missing or non-executable program is reported like a shell does."""
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # so a timeout can kill the whole group
            )
        except FileNotFoundError:
            return CommandResult(127, "", f"{argv[0]}: command not found\n")
        except PermissionError:
            return CommandResult(126, "", f"{argv[0]}: permission denied\n")

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        args = _check_argv(argv)
        log.debug("local: run %s", args)
        process = await self._spawn(
            args,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        if isinstance(process, CommandResult):
            return process
        try:
            async with asyncio.timeout(timeout):
                stdout, stderr = await process.communicate(stdin or None)
        except TimeoutError:
            if timeout is None:
                raise
            raise TransportError(
                LABEL,
                f"`{args[0]}` did not finish within {timeout:g}s",
                "it was killed; check why it hung",
            ) from None
        finally:
            if process.returncode is None:  # timed out or cancelled
                _kill_group(process)
                await process.wait()
        return CommandResult(
            exit_status=_exit_status(process.returncode or 0),
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
        )

    async def channel(self, argv: Sequence[str]) -> Channel:
        args = _check_argv(argv)
        process = await self._spawn(
            args, stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        if isinstance(process, CommandResult):
            raise TransportError(LABEL, process.stderr.strip(), "is shipyard installed?")
        return _LocalChannel(process, args[0])

    async def put(self, local_path: Path, remote_path: str) -> None:
        """Copy content and permission bits via `remote_path.part`, then rename."""
        if not remote_path.startswith("/"):
            raise ValueError(f"destination must be an absolute path, not {remote_path!r}")
        local_path.stat()  # FileNotFoundError: a mistake on this side, not the "host's"
        part = remote_path + ".part"
        try:
            await asyncio.to_thread(shutil.copy, local_path, part)
            os.replace(part, remote_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise TransportError(
                LABEL,
                f"copy of {local_path} to {remote_path} failed: {exc.strerror or exc}",
                "the parent directory must exist and be writable",
            ) from None

    async def stream(self, argv: Sequence[str]) -> AsyncGenerator[str, None]:
        """Yield output lines (stderr merged in) until it exits; closing early kills it."""
        args = _check_argv(argv)
        process = await self._spawn(
            args, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.STDOUT
        )
        if isinstance(process, CommandResult):
            for line in process.stderr.splitlines():
                yield line
            return
        assert process.stdout is not None
        lines = LineReader(process.stdout.read, MAX_REPLY_BYTES)
        try:
            while raw := await lines.readline():
                yield raw.decode("utf-8", errors="replace").rstrip("\r\n")
            await process.wait()
        finally:
            _kill_group(process)
            await process.wait()
