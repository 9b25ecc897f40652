"""Reach a host over SSH (asyncssh): one connection per host, reused for every call.

Host keys are checked strictly against one known_hosts file (SshOptions.known_hosts, else
~/.ssh/known_hosts; ssh config's UserKnownHostsFile and StrictHostKeyChecking are not
consulted, so a config cannot weaken the check). A key never seen before is refused
unless `trust_unknown_hosts` is on (then it is recorded, first use only, never in CI);
a key that differs from the recorded one is always refused.

The remote side runs commands through the login user's shell, so an argv becomes a
shell string in exactly one place, `_command`, with `shlex.join`. Nothing here logs
stdin: that is where secrets travel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import socket
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any

import asyncssh

from shipyard.core.ci import in_ci
from shipyard.protocol.op import MAX_REPLY_BYTES
from shipyard.transport.base import (
    Channel,
    CommandResult,
    TransportError,
    reply_too_long_hint,
)
from shipyard.transport.lines import LineReader, LineTooLong
from shipyard.transport.stream import StreamChannel
from shipyard.transport.target import SshOptions, SshTarget

log = logging.getLogger(__name__)

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
_KEEPALIVE_INTERVAL = 15.0  # seconds; a silently dead peer is noticed after ~1 minute
_KEEPALIVE_COUNT_MAX = 4
_MAX_CHANNELS = 8  # below sshd's default MaxSessions (10)
_LOST_HINT = (
    "the SSH connection broke while the command ran; it may or may not have finished "
    "on the host. Check the host and network, then run the step again."
)


_PUT_CHUNK = 256 * 1024
# $1 the .part file, $2 the mode (octal), $3 the destination; refuses a directory there
# (mv would move the file into it), removes the .part file when any step fails
_EXEC_PUT = (
    'umask 077; if [ -d "$3" ]; then echo "$3 is a directory" >&2; exit 1; fi; '
    'if cat > "$1" && chmod "$2" "$1" && mv -f "$1" "$3"; then exit 0; fi; '
    'rm -f "$1"; exit 1'
)


# a handshake sshd refused or dropped before it completed: worth another try
_HANDSHAKE_DROPPED = (
    ConnectionRefusedError,
    ConnectionResetError,
    BrokenPipeError,
    asyncssh.ConnectionLost,
    asyncssh.DisconnectError,
)


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or getattr(exc, "strerror", "") or exc).rstrip(".")


def _dropped(exc: asyncssh.DisconnectError) -> bool:
    """A disconnect that means "not now" (the connection was lost or reset, or sshd
    says it has too many connections), not "no" (bad key, bad host key, protocol)."""
    if isinstance(exc, asyncssh.ConnectionLost):
        return True
    reason = (exc.reason or "").lower()
    return exc.code in (
        asyncssh.DISC_CONNECTION_LOST,
        asyncssh.DISC_TOO_MANY_CONNECTIONS,
    ) or any(word in reason for word in ("reset", "connection lost", "too many"))


class _NoSftp(Exception):
    """The host's sshd has no `sftp` subsystem (it refused the session request)."""


def running_in_ci() -> bool:
    return in_ci()


def _host_pattern(host: str, port: int) -> str:
    """How known_hosts spells a host: `host` on port 22, `[host]:port` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def _exit_status(process: asyncssh.SSHCompletedProcess) -> int:
    """The exit status, shell style (128 + n) when the process died of a signal."""
    if process.exit_signal:
        try:
            return 128 + signal.Signals[f"SIG{process.exit_signal[0]}"].value
        except KeyError:
            return 255
    return int(process.exit_status if process.exit_status is not None else 255)


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return str(data or "")


class _HostKeyCheck(asyncssh.SSHClient):
    """Called by asyncssh for a host key that is not in known_hosts.

    Tells "unknown" (no key recorded for the host) from "changed" (a different key is
    recorded), accepts an unknown key only when trusting on first use.
    """

    def __init__(self, known: asyncssh.SSHKnownHosts, trust_unknown: bool) -> None:
        self._known = known
        self._trust_unknown = trust_unknown
        self.verdict: str | None = None  # "unknown" or "changed"
        self.key: asyncssh.SSHKey | None = None
        self.host = ""
        self.port = 22

    @property
    def pattern(self) -> str:
        return _host_pattern(self.host, self.port)

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.key, self.host, self.port = key, host, port
        recorded = self._known.match(host, addr, None if port == 22 else port)[0]
        self.verdict = "changed" if recorded else "unknown"
        return self.verdict == "unknown" and self._trust_unknown


class _SshChannel:
    def __init__(
        self, transport: SshTransport, process: asyncssh.SSHClientProcess[Any], command: str
    ) -> None:
        self.transport = transport
        self.process = process
        self.command = command
        self.replies = LineReader(process.stdout.read, MAX_REPLY_BYTES)

    async def request(self, line: bytes, timeout: float | None = None) -> bytes:
        short = SshTransport._short(self.command)
        try:
            async with asyncio.timeout(timeout):
                self.process.stdin.write(line)
                await self.process.stdin.drain()
                reply = await self.replies.readline()
        except LineTooLong as exc:
            await self.close()
            raise self.transport._error(
                f"{short} answered with {exc}", reply_too_long_hint(exc.limit)
            ) from None
        except TimeoutError:
            await self.close()
            raise self.transport._error(
                f"{short} did not answer within {timeout:g}s", "check the host for a hung step"
            ) from None
        except (asyncssh.DisconnectError, ConnectionError, BrokenPipeError) as exc:
            await self.close()
            raise self.transport._error(f"{short} failed: {exc}", _LOST_HINT) from None
        if not reply:
            await self.close()
            raise self.transport._error(f"{short}: connection lost", _LOST_HINT)
        return reply

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.process.stdin.write_eof()
        try:
            async with asyncio.timeout(5):
                await self.process.wait_closed()
        except (TimeoutError, Exception):
            SshTransport._abandon(self.process)


class SshTransport:
    """The Transport for one host over SSH."""

    def __init__(self, target: SshTarget, options: SshOptions) -> None:
        self.target = target
        self.options = options
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(_MAX_CHANNELS)
        self._sftp: bool | None = None  # None until the first upload finds out
        self.handshake_retries = 0  # handshakes refused or reset, then tried again

    def __repr__(self) -> str:
        return f"SshTransport({self.label})"

    @property
    def label(self) -> str:
        return str(self.target)

    @property
    def known_hosts_file(self) -> Path:
        return (self.options.known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()

    # -- connection -------------------------------------------------------------------

    async def connect(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            self._conn = await self._open()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await conn.wait_closed()

    async def _connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is None or self._conn.is_closed():
            await self.connect()
        assert self._conn is not None
        return self._conn

    def _error(self, message: str, hint: str = "") -> TransportError:
        return TransportError(self.label, message, hint)

    def _connect_options(self, client: _HostKeyCheck) -> dict[str, Any]:
        opts = self.options
        kwargs: dict[str, Any] = {
            "client_factory": lambda: client,
            "connect_timeout": opts.connect_timeout,
            "keepalive_interval": _KEEPALIVE_INTERVAL,
            "keepalive_count_max": _KEEPALIVE_COUNT_MAX,
        }
        if self.target.port is not None:
            kwargs["port"] = self.target.port
        if self.target.user is not None:
            kwargs["username"] = self.target.user
        for path, what, key in (
            (opts.identity_file, "identity file", "client_keys"),
            (opts.config_file, "ssh config file", "config"),
        ):
            if path is None:
                continue
            path = path.expanduser()
            if not path.is_file():
                raise self._error(
                    f"{what} {path} does not exist", f"fix the `ssh` section of the config ({what})"
                )
            kwargs[key] = [str(path)]
        return kwargs

    def _read_known_hosts(self) -> asyncssh.SSHKnownHosts:
        path = self.known_hosts_file
        if not path.exists():
            return asyncssh.import_known_hosts("")
        try:
            return asyncssh.read_known_hosts(str(path))
        except (OSError, ValueError) as exc:
            raise self._error(
                f"cannot read known_hosts file {path}: {exc}",
                f"fix or delete the malformed line in {path}",
            ) from None

    async def _open(self) -> asyncssh.SSHClientConnection:
        if self.options.trust_unknown_hosts and running_in_ci():
            raise self._error(
                "refusing `ssh.trust_unknown_hosts: true` because CI=true: trust on first "
                "use would accept whatever key answers",
                "add the host's key to known_hosts in the CI setup (verified fingerprint), "
                "and turn trust_unknown_hosts off",
            )
        known = self._read_known_hosts()
        client = _HostKeyCheck(known, self.options.trust_unknown_hosts)
        kwargs = self._connect_options(client)
        kwargs["known_hosts"] = known
        where = f"port {self.target.port}" if self.target.port else "the SSH port"
        try:
            conn = await self._handshake(kwargs)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise self._host_key_error(client, exc) from None
        except asyncssh.PermissionDenied:
            raise self._error(
                f"SSH login as {self.target.user or 'the default user'} was refused",
                "check that the identity file (ssh.identity_file, ~/.ssh/config or the "
                "agent) holds a key listed in the user's ~/.ssh/authorized_keys; "
                f"try `ssh {self._ssh_args()}`",
            ) from None
        except (asyncssh.DisconnectError, ConnectionResetError, BrokenPipeError) as exc:
            if not isinstance(exc, asyncssh.DisconnectError) or _dropped(exc):
                tries = self.options.connect_attempts
                raise self._error(
                    f"sshd dropped the SSH handshake ({_reason(exc)}), "
                    f"{tries} time{'s' if tries > 1 else ''}",
                    "the server is refusing new connections for now (sshd's MaxStartups, "
                    "a full listen backlog): raise fleet.connect_attempts or lower "
                    f"fleet.max_connecting; try `ssh -v {self._ssh_args()}`",
                ) from None
            raise self._error(
                f"SSH handshake failed: {exc.reason}",
                f"try `ssh -v {self._ssh_args()}` to see what the server says",
            ) from None
        except TimeoutError:
            raise self._error(
                f"no SSH answer within {self.options.connect_timeout:g}s",
                f"check that the host is up and reachable on {where} (firewall?), "
                "or raise ssh.connect_timeout",
            ) from None
        except socket.gaierror as exc:
            raise self._error(
                f"cannot resolve host name {self.target.host!r}: {exc.strerror}",
                "check the host name in the config and DNS / /etc/hosts",
            ) from None
        except ConnectionRefusedError:
            raise self._error(
                f"connection refused on {where}",
                f"check that sshd runs on {self.target.host} and listens on {where}",
            ) from None
        except OSError as exc:
            raise self._error(
                f"cannot connect: {exc.strerror or exc}",
                f"check that {self.target.host} is reachable on {where}",
            ) from None
        except (asyncssh.Error, ValueError) as exc:  # bad key file, bad ssh config option
            raise self._error(
                f"cannot set up the SSH connection: {exc}",
                "check ssh.identity_file and the ssh config file",
            ) from None
        if client.verdict == "unknown" and client.key is not None:
            try:
                self._record_host_key(client.pattern, client.key)
            except TransportError:
                conn.close()
                raise
        return conn

    async def _handshake(self, kwargs: dict[str, Any]) -> asyncssh.SSHClientConnection:
        """`asyncssh.connect`, tried again after a backoff when the handshake is refused
        or reset before it completed (sshd dropping unauthenticated connections past
        MaxStartups, a full listen backlog). Nothing ran on the host yet, so a retry
        repeats nothing; any other failure is raised at once."""
        delays = self.options.retry_delays()
        for attempt in range(len(delays) + 1):
            try:
                return await asyncssh.connect(self.target.host, **kwargs)
            except _HANDSHAKE_DROPPED as exc:
                if isinstance(exc, asyncssh.DisconnectError) and not _dropped(exc):
                    raise
                if attempt == len(delays):
                    raise
                self.handshake_retries += 1
                log.info(
                    "%s: SSH handshake %s; trying again in %.2fs",
                    self.label,
                    type(exc).__name__,
                    delays[attempt],
                )
                await asyncio.sleep(delays[attempt])
        raise AssertionError("unreachable")  # pragma: no cover

    def _ssh_args(self) -> str:
        port = ["-p", str(self.target.port)] if self.target.port else []
        user = f"{self.target.user}@" if self.target.user else ""
        return shlex.join([*port, user + self.target.host])

    def _host_key_error(
        self, client: _HostKeyCheck, exc: asyncssh.HostKeyNotVerifiable
    ) -> TransportError:
        file = shlex.quote(str(self.known_hosts_file))
        if client.key is None or client.verdict is None:  # revoked, or a bad certificate
            return self._error(f"host key rejected: {exc.reason}", f"see {file}")
        key = f"{client.key.get_algorithm()} {client.key.get_fingerprint()}"
        if client.verdict == "changed":
            return self._error(
                f"HOST KEY CHANGED for {client.pattern}: the server presented {key}, which "
                f"is not the key recorded in {file}. This may be a man-in-the-middle "
                "attack, or the server was reinstalled. Not connecting.",
                "find out why the key changed. Only if the new key is legitimate "
                "(verify its fingerprint with the server's owner), remove the old entry "
                f"with `ssh-keygen -R {shlex.quote(client.pattern)} -f {file}` and add the "
                "new one; trust_unknown_hosts never overrides a changed key.",
            )
        port = [] if client.port == 22 else ["-p", str(client.port)]
        scan = ["ssh-keyscan", *port, client.host]
        return self._error(
            f"unknown host key for {client.pattern} ({key}); not connecting",
            f"verify that fingerprint with the server's owner, then run "
            f"`{shlex.join(scan)} >> {file}`, or set `ssh.trust_unknown_hosts: true` to "
            "record it on first connect",
        )

    def _record_host_key(self, pattern: str, key: asyncssh.SSHKey) -> None:
        path = self.known_hosts_file
        key_type, key_data = key.export_public_key("openssh").decode().split()[:2]
        line = f"{pattern} {key_type} {key_data}\n"
        try:
            if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
                line = "\n" + line
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(line)
        except OSError as exc:
            raise self._error(
                f"cannot record the host key in {path}: {exc.strerror or exc}",
                "make the known_hosts file writable, or add the key by hand",
            ) from None
        log.warning(
            "%s: trusted new host key %s %s (recorded in %s)",
            self.label,
            key.get_algorithm(),
            key.get_fingerprint(),
            path,
        )

    # -- commands ---------------------------------------------------------------------

    def _command(self, argv: Sequence[str]) -> str:
        """The one place an argv becomes a remote shell string."""
        if isinstance(argv, str) or not argv:
            raise ValueError(f"argv must be a non-empty list of strings, not {argv!r}")
        return shlex.join(argv)

    @staticmethod
    def _short(command: str) -> str:
        return f"`{command}`" if len(command) <= 80 else f"`{command[:77]}...`"

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        command = self._command(argv)
        conn = await self._connection()
        log.debug("%s: run %s", self.label, command)
        async with self._slots:
            process = await self._start(conn, command, encoding=None)
            try:
                async with asyncio.timeout(timeout):
                    await self._feed(process, stdin)
                    completed = await process.wait()
            except TimeoutError:
                if timeout is None:
                    raise
                raise self._error(
                    f"{self._short(command)} did not finish within {timeout:g}s",
                    "Shipyard stopped waiting and asked sshd to terminate it (sshd ignores "
                    "that for root logins); check the host for a hung process",
                ) from None
            except (asyncssh.DisconnectError, ConnectionError) as exc:
                raise self._error(f"{self._short(command)} failed: {exc}", _LOST_HINT) from None
            finally:
                self._abandon(process)
        if completed.exit_status is None and completed.exit_signal is None:
            raise self._error(f"{self._short(command)}: connection lost", _LOST_HINT)
        return CommandResult(
            exit_status=_exit_status(completed),
            stdout=_text(completed.stdout),
            stderr=_text(completed.stderr),
        )

    async def _start(
        self, conn: asyncssh.SSHClientConnection, command: str, **kwargs: Any
    ) -> asyncssh.SSHClientProcess[Any]:
        try:
            return await conn.create_process(command, **kwargs)
        except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, ConnectionError) as exc:
            reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
            raise self._error(
                f"cannot start {self._short(command)}: {reason}",
                "the SSH connection may have dropped; run the step again",
            ) from None

    @staticmethod
    async def _feed(process: asyncssh.SSHClientProcess[Any], stdin: bytes | None) -> None:
        """Send stdin (never logged) and end it, so readers like `cat` see EOF."""
        try:
            if stdin:
                process.stdin.write(stdin)
                await process.stdin.drain()
            process.stdin.write_eof()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the process exited without reading it all; its exit status tells

    @staticmethod
    def _abandon(process: asyncssh.SSHClientProcess[Any]) -> None:
        """Stop a remote process we no longer wait for (no-op once it has exited)."""
        if process.exit_status is None and process.exit_signal is None:
            with contextlib.suppress(Exception):
                process.terminate()
        process.close()

    async def unix_channel(self, path: str) -> Channel:
        """The host's unix socket `path`, forwarded through this connection."""
        conn = await self._connection()
        try:
            reader, writer = await conn.open_unix_connection(path)
        except (asyncssh.ChannelOpenError, asyncssh.DisconnectError, OSError) as exc:
            reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
            raise self._error(f"nothing answers on {path}: {reason}") from None
        return StreamChannel(reader, writer, self.label, f"the agent on {path}")

    async def channel(self, argv: Sequence[str]) -> Channel:
        command = self._command(argv)
        conn = await self._connection()
        process = await self._start(conn, command, encoding=None)
        return _SshChannel(self, process, command)

    async def put(self, local_path: Path, remote_path: str) -> None:
        """Copy via `remote_path.part`, then rename: over SFTP, or, on a host whose sshd
        has no SFTP subsystem, streamed to `cat` over an exec channel."""
        if not remote_path.startswith("/"):
            raise ValueError(f"remote path must be absolute, not {remote_path!r}")
        mode = local_path.stat().st_mode & 0o7777  # FileNotFoundError: a local mistake
        conn = await self._connection()
        log.debug("%s: put %s -> %s", self.label, local_path, remote_path)
        if self._sftp is not False:
            try:
                await self._put_sftp(conn, local_path, remote_path, mode)
                self._sftp = True
                return
            except _NoSftp:
                self._sftp = False
                log.info("%s: no SFTP subsystem; uploading through `cat`", self.label)
        await self._put_exec(conn, local_path, remote_path, mode)

    async def _put_sftp(
        self, conn: asyncssh.SSHClientConnection, local_path: Path, remote_path: str, mode: int
    ) -> None:
        part = remote_path + ".part"
        what = f"upload of {local_path} to {remote_path}"
        async with self._slots:
            try:
                async with conn.start_sftp_client() as sftp:
                    try:
                        await sftp.put(str(local_path), part)
                        await sftp.chmod(part, mode)
                        await sftp.posix_rename(part, remote_path)
                    except Exception:
                        with contextlib.suppress(Exception):
                            await sftp.remove(part)
                        raise
            except asyncssh.SFTPConnectionLost as exc:
                raise self._error(f"{what} failed: {exc.reason}", _LOST_HINT) from None
            except asyncssh.SFTPError as exc:
                raise self._error(
                    f"{what} failed: {exc.reason}",
                    "the parent directory must exist and be writable by the SSH user",
                ) from None
            except asyncssh.ChannelOpenError as exc:
                if self._sftp is None and not conn.is_closed():
                    raise _NoSftp() from None  # the session opened; sshd refused `sftp`
                raise self._error(f"{what} failed: {exc.reason}", _LOST_HINT) from None
            except (asyncssh.Error, ConnectionError) as exc:
                raise self._error(f"{what} failed: {exc}", _LOST_HINT) from None

    async def _put_exec(
        self, conn: asyncssh.SSHClientConnection, local_path: Path, remote_path: str, mode: int
    ) -> None:
        """The same steps with POSIX tools: `cat` into the .part file (only the user can
        read it meanwhile), chmod, rename into place; the .part file removed on failure."""
        part = remote_path + ".part"
        what = f"upload of {local_path} to {remote_path} (without SFTP)"
        command = self._command(["sh", "-c", _EXEC_PUT, "sh", part, f"{mode:o}", remote_path])
        async with self._slots:
            process = await self._start(conn, command, encoding=None)
            try:
                with local_path.open("rb") as source:
                    while chunk := await asyncio.to_thread(source.read, _PUT_CHUNK):
                        process.stdin.write(chunk)
                        await process.stdin.drain()
                process.stdin.write_eof()
                completed = await process.wait()
            except (BrokenPipeError, ConnectionResetError):
                completed = await process.wait()
            except (asyncssh.DisconnectError, ConnectionError) as exc:
                raise self._error(f"{what} failed: {exc}", _LOST_HINT) from None
            finally:
                self._abandon(process)
        if completed.exit_status is None and completed.exit_signal is None:
            raise self._error(f"{what}: connection lost", _LOST_HINT)
        if completed.exit_status != 0:
            detail = _text(completed.stderr).strip().splitlines()
            raise self._error(
                f"{what} failed: {detail[-1] if detail else f'exit {completed.exit_status}'}",
                "the parent directory must exist and be writable by the SSH user",
            )

    async def stream(self, argv: Sequence[str]) -> AsyncGenerator[str, None]:
        """Yield the command's stdout and stderr lines, as they come, until it exits.

        Closing the iterator early (break + aclose, cancellation) closes the channel and
        asks sshd to terminate the process.
        """
        command = self._command(argv)
        conn = await self._connection()
        log.debug("%s: stream %s", self.label, command)
        process = await self._start(conn, command, encoding="utf-8", errors="replace")
        # One reader per stream, merged here line by line: asyncssh's own stderr=STDOUT
        # merge can yield a stray empty line at EOF.
        lines: asyncio.Queue[str | Exception | None] = asyncio.Queue(maxsize=256)
        pumps = [
            asyncio.create_task(self._pump(reader, lines))
            for reader in (process.stdout, process.stderr)
        ]
        try:
            process.stdin.write_eof()
            running = len(pumps)
            while running:
                item = await lines.get()
                if item is None:
                    running -= 1
                elif isinstance(item, Exception):
                    raise item
                else:
                    yield item
            completed = await process.wait()
        except (asyncssh.DisconnectError, ConnectionError) as exc:
            raise self._error(f"{self._short(command)} failed: {exc}", _LOST_HINT) from None
        finally:
            for pump in pumps:
                pump.cancel()
            self._abandon(process)
        if completed.exit_status is None and completed.exit_signal is None:
            raise self._error(f"{self._short(command)}: connection lost", _LOST_HINT)

    @staticmethod
    async def _pump(
        reader: asyncssh.SSHReader[str], lines: asyncio.Queue[str | Exception | None]
    ) -> None:
        """Copy lines from one output stream to `lines`, then None (or the error)."""
        try:
            while line := await reader.readline():
                await lines.put(line.rstrip("\r\n"))
        except Exception as exc:
            await lines.put(exc)
        else:
            await lines.put(None)
