"""SshTransport against real sshd instances on loopback aliases: no mocks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest
from support.sshd import SshFleet, TestHost, keygen

from shipyard.transport.base import TransportError
from shipyard.transport.ssh import SshTransport
from shipyard.transport.target import SshOptions, SshTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

T = TypeVar("T")


def with_transport(
    target: SshTarget, options: SshOptions, body: Callable[[SshTransport], Awaitable[T]]
) -> T:
    """Run body(transport) on a fresh event loop; always close the transport."""

    async def main() -> T:
        transport = SshTransport(target, options)
        try:
            return await body(transport)
        finally:
            await transport.close()

    return asyncio.run(main())


def connect_error(target: SshTarget, options: SshOptions) -> TransportError:
    async def body(transport: SshTransport) -> None:
        await transport.connect()

    with pytest.raises(TransportError) as caught:
        with_transport(target, options, body)
    return caught.value


@pytest.fixture(autouse=True)
def not_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests must behave the same on a laptop and in CI (which sets CI=true)."""
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture
def host(ssh_hosts: SshFleet) -> TestHost:
    return ssh_hosts(1)[0]


@pytest.fixture
def options(ssh_hosts: SshFleet) -> SshOptions:
    return ssh_hosts.options()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_a_command_runs_and_reports_stdout_stderr_and_exit_status(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> None:
        ok = await t.run(["echo", "hello"])
        assert (ok.exit_status, ok.stdout, ok.stderr, ok.ok) == (0, "hello\n", "", True)
        failed = await t.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (failed.exit_status, failed.stdout, failed.stderr) == (3, "out\n", "err\n")
        assert not failed.ok

    with_transport(host.target, options, body)


def test_arguments_arrive_verbatim_without_shell_interpretation(
    host: TestHost, options: SshOptions
) -> None:
    tricky = ["a b", "$HOME", "it's", 'say "hi"', "x;y", "`id`", "*", "", "tab\there", "ünï"]

    async def body(t: SshTransport) -> None:
        result = await t.run(["printf", r"%s\n", *tricky])
        assert result.stdout.split("\n")[:-1] == tricky

    with_transport(host.target, options, body)


def test_stdin_reaches_the_process_and_never_appears_in_its_argv(
    host: TestHost, options: SshOptions
) -> None:
    secret = b"s3cret-token\nline two\n"
    argv_file = host.root_dir / "argv"
    stdin_file = host.root_dir / "stdin"
    # The shell records its own argv (and its parent's, the sshd session) and then stdin.
    script = 'cat /proc/$$/cmdline /proc/$PPID/cmdline > "$1"; cat > "$2"'

    async def body(t: SshTransport) -> None:
        result = await t.run(
            ["sh", "-c", script, "rec", str(argv_file), str(stdin_file)], stdin=secret
        )
        assert result.ok, result.stderr

    with_transport(host.target, options, body)
    assert stdin_file.read_bytes() == secret
    recorded = argv_file.read_bytes()
    assert recorded.split(b"\0")[:3] == [b"sh", b"-c", script.encode()]
    assert b"s3cret" not in recorded


def test_stdin_is_closed_when_none_is_given_so_readers_do_not_hang(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> None:
        assert (await t.run(["cat"])).stdout == ""
        assert (await t.run(["cat"], stdin=b"")).stdout == ""

    with_transport(host.target, options, body)


def test_a_command_killed_by_a_signal_reports_128_plus_the_signal_number(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> None:
        assert (await t.run(["sh", "-c", "kill -KILL $$"])).exit_status == 128 + 9

    with_transport(host.target, options, body)


def test_one_connection_is_reused_for_every_call(host: TestHost, options: SshOptions) -> None:
    async def body(t: SshTransport) -> None:
        await t.connect()
        await t.connect()
        first = await t.run(["sh", "-c", 'echo "$SSH_CONNECTION"'])
        second = await t.run(["sh", "-c", 'echo "$SSH_CONNECTION"'])
        assert first.stdout == second.stdout != ""

    with_transport(host.target, options, body)


def test_close_is_idempotent_and_a_later_call_reconnects(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> None:
        await t.run(["true"])
        await t.close()
        await t.close()
        assert (await t.run(["echo", "again"])).stdout == "again\n"

    with_transport(host.target, options, body)


def test_a_command_that_outlives_its_timeout_is_a_transport_error(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> None:
        with pytest.raises(TransportError) as caught:
            await t.run(["sleep", "30"], timeout=0.2)
        assert caught.value.host == str(host.target)
        assert "did not finish within 0.2s" in caught.value.message
        assert (await t.run(["echo", "still usable"])).ok

    with_transport(host.target, options, body)


def test_a_connection_broken_mid_command_is_a_transport_error_with_a_hint(
    host: TestHost, options: SshOptions
) -> None:
    parent_file = host.root_dir / "session-pid"
    parent_file.unlink(missing_ok=True)

    async def body(t: SshTransport) -> None:
        command = asyncio.create_task(
            t.run(
                [
                    "sh",
                    "-c",
                    'echo $PPID > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 30',
                    "sh",
                    str(parent_file),
                ]
            )
        )
        while not parent_file.exists():
            await asyncio.sleep(0.02)
        # The shell's parent is sshd's process for this session: killing it drops the
        # connection while the command itself is still running.
        os.kill(int(parent_file.read_text()), signal.SIGKILL)
        with pytest.raises(TransportError) as caught:
            await command
        assert caught.value.host == str(host.target)
        assert "may or may not have finished" in caught.value.hint

    with_transport(host.target, options, body)


def test_put_uploads_content_and_mode(host: TestHost, options: SshOptions, tmp_path: Path) -> None:
    local = tmp_path / "run.sh"
    local.write_text("#!/bin/sh\necho ok\n")
    local.chmod(0o750)
    remote = host.root_dir / "run.sh"

    async def body(t: SshTransport) -> None:
        await t.put(local, str(remote))
        assert (await t.run([str(remote)])).stdout == "ok\n"

    with_transport(host.target, options, body)
    assert remote.read_text() == local.read_text()
    assert remote.stat().st_mode & 0o777 == 0o750
    assert not Path(f"{remote}.part").exists()


def test_put_replaces_an_existing_file_atomically(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    local = tmp_path / "config"
    local.write_text("new\n")
    remote = host.root_dir / "config"
    remote.write_text("old\n")

    async def body(t: SshTransport) -> None:
        await t.put(local, str(remote))

    # A reader that opened the old file keeps seeing it whole: the new one was renamed
    # into place, never written over it.
    with open(remote) as reader:
        with_transport(host.target, options, body)
        assert reader.read() == "old\n"
    assert remote.read_text() == "new\n"
    assert sorted(p.name for p in host.root_dir.glob("config*")) == ["config"]


def test_put_that_cannot_be_renamed_into_place_leaves_no_partial_file(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    local = tmp_path / "file"
    local.write_text("data\n")
    occupied = host.root_dir / "occupied"
    occupied.mkdir(exist_ok=True)
    (occupied / "keep").write_text("")

    async def body(t: SshTransport) -> None:
        with pytest.raises(TransportError) as caught:
            await t.put(local, str(occupied))
        assert str(occupied) in caught.value.message

    with_transport(host.target, options, body)
    assert occupied.is_dir()
    assert not Path(f"{occupied}.part").exists()


def test_put_into_a_missing_directory_names_the_path_and_the_fix(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    local = tmp_path / "file"
    local.write_text("data\n")
    remote = str(host.root_dir / "missing" / "file")

    async def body(t: SshTransport) -> None:
        with pytest.raises(TransportError) as caught:
            await t.put(local, remote)
        assert remote in caught.value.message
        assert "parent directory must exist" in caught.value.hint

    with_transport(host.target, options, body)


def test_stream_yields_lines_while_the_command_still_runs(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> list[str]:
        lines = []
        stream = t.stream(["sh", "-c", "echo one; echo two; exec sleep 30"])
        async for line in stream:
            lines.append(line)
            if line == "two":
                break
        await stream.aclose()  # must not wait for the sleep
        return lines

    assert with_transport(host.target, options, body) == ["one", "two"]


def test_stream_ends_when_the_command_exits_and_includes_stderr(
    host: TestHost, options: SshOptions
) -> None:
    async def body(t: SshTransport) -> list[str]:
        return [line async for line in t.stream(["sh", "-c", "echo out; echo err >&2"])]

    assert sorted(with_transport(host.target, options, body)) == ["err", "out"]


def test_unknown_host_key_is_refused_with_a_hint(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")

    error = connect_error(host.target, replace(options, known_hosts=known_hosts))

    assert f"unknown host key for [{host.address}]:{host.port}" in error.message
    assert "SHA256:" in error.message
    assert f"ssh-keyscan -p {host.port} {host.address} >> {known_hosts}" in error.hint
    assert "ssh.trust_unknown_hosts: true" in error.hint
    assert known_hosts.read_text() == ""


def test_changed_host_key_is_refused_even_when_trusting_unknown_hosts(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    impostor = keygen(tmp_path / "other_key", "impostor").split()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{host.address}]:{host.port} {impostor[0]} {impostor[1]}\n")
    before = known_hosts.read_text()

    for trust in (False, True):
        error = connect_error(
            host.target,
            replace(options, known_hosts=known_hosts, trust_unknown_hosts=trust),
        )
        assert f"HOST KEY CHANGED for [{host.address}]:{host.port}" in error.message
        assert "ssh-keygen -R" in error.hint
    assert known_hosts.read_text() == before


def test_trust_unknown_hosts_records_the_key_on_first_use(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "new_dir" / "known_hosts"
    trusting = replace(options, known_hosts=known_hosts, trust_unknown_hosts=True)

    async def body(t: SshTransport) -> None:
        assert (await t.run(["true"])).ok

    with_transport(host.target, trusting, body)
    assert known_hosts.read_text() == host.known_hosts_line + "\n"
    # The recorded key is now simply known: a strict connection succeeds.
    strict = replace(options, known_hosts=known_hosts)
    with_transport(host.target, strict, body)


def test_trust_unknown_hosts_is_refused_when_ci_is_true(
    host: TestHost, options: SshOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    known_hosts = tmp_path / "known_hosts"
    trusting = replace(options, known_hosts=known_hosts, trust_unknown_hosts=True)

    error = connect_error(host.target, trusting)

    assert "CI=true" in error.message
    assert not known_hosts.exists()


def test_connecting_to_a_closed_port_names_the_host_and_port(
    options: SshOptions, closed_port: int
) -> None:
    target = SshTarget(host="127.0.0.1", user="root", port=closed_port)

    error = connect_error(target, options)

    assert error.host == f"root@127.0.0.1:{closed_port}"
    assert f"refused on port {closed_port}" in error.message
    assert "sshd" in error.hint
    assert str(target) in str(error)


def test_a_server_that_never_answers_times_out_with_a_transport_error(
    options: SshOptions,
) -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog), never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        target = SshTarget(host="127.0.0.1", user="root", port=port)

        error = connect_error(target, replace(options, connect_timeout=0.3))

    assert error.host == f"root@127.0.0.1:{port}"
    assert "no SSH answer within 0.3s" in error.message
    assert "connect_timeout" in error.hint


def test_a_key_the_host_does_not_authorize_is_refused_with_a_hint(
    host: TestHost, options: SshOptions, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger_key"
    keygen(stranger, "stranger")

    error = connect_error(host.target, replace(options, identity_file=stranger))

    assert "login as root was refused" in error.message
    assert "authorized_keys" in error.hint


def test_a_missing_identity_file_is_reported_before_connecting(
    options: SshOptions, tmp_path: Path
) -> None:
    missing = tmp_path / "nope"
    with socket.socket() as listener:  # counts connection attempts; never speaks SSH
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        target = SshTarget(host="127.0.0.1", user="root", port=listener.getsockname()[1])

        error = connect_error(target, replace(options, identity_file=missing))

        assert f"identity file {missing} does not exist" in error.message
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
