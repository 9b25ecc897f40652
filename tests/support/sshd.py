"""Throwaway sshd instances on loopback aliases, for integration tests.

Each `TestHost` is a real `/usr/sbin/sshd` listening on its own 127.0.0.x address with
its own host key, accepting root logins with one generated client key. Its files live
in BASE/ADDR/ (BASE is a short /tmp/syt-XXXXXXXX so unix socket paths under `root_dir`
stay well below the 108-byte limit).

`SshFleet` owns the shared pieces (client key, known_hosts file, an empty ssh config)
and a pool of hosts; the `ssh_hosts` fixture hands one fleet to a test module:

    def test_something(ssh_hosts: SshFleet) -> None:
        first, second = ssh_hosts(2)
        transport = SshTransport(first.target, ssh_hosts.options())

Every process sshd starts gets SHIPYARD_TEST_HOST=<host dir> in its environment
(sshd_config `SetEnv`), so `stop()` can find and kill whatever a test left running,
including daemons that detached, and nothing else.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from shipyard.transport.target import SshOptions, SshTarget

SSHD = "/usr/sbin/sshd"
DEFAULT_PORT = 2222
FIRST_ADDRESS = 11  # 127.0.0.11, .12, ...
MARKER_VAR = "SHIPYARD_TEST_HOST"
PRIVSEP_DIR = Path("/run/sshd")
KEEP_VAR = "SHIPYARD_TEST_KEEP"  # set to 1 to keep /tmp/syt-* for a post-mortem

_START_TIMEOUT = 10.0
_PORT_ATTEMPTS = 20


class SshdError(RuntimeError):
    """A test sshd could not be started."""


def keygen(path: Path, comment: str) -> str:
    """Write an ed25519 key pair to path/path.pub; return the public key line."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path.with_name(path.name + ".pub").read_text().strip()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM this child if pytest dies without cleaning up."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    marked: bool
    in_dir: bool


def _read_proc(pid: int, host_dir: str, marker: bytes) -> _Proc | None:
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":  # a zombie: already dead, nothing to kill
            return None
        ppid = int(fields[1])
        with open(f"{base}/environ", "rb") as f:
            marked = marker in f.read().split(b"\0")
        with open(f"{base}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
        try:
            cwd = os.readlink(f"{base}/cwd")
        except OSError:
            cwd = ""
    except (OSError, IndexError, ValueError):
        return None  # gone meanwhile, or a kernel thread
    under = host_dir + "/"
    in_dir = (cwd + "/").startswith(under) or any(a == host_dir or under in a for a in args)
    return _Proc(pid, ppid, marked, in_dir)


def _ancestors() -> set[int]:
    """This process and its parents: never ours to kill."""
    pids = set()
    pid = os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return pids


def processes_of(host_dir: Path, roots: set[int]) -> set[int]:
    """Pids started for one test host: `roots` (its sshd), everything carrying its
    environment marker or running in / naming its directory, and their descendants."""
    directory = str(host_dir)
    marker = f"{MARKER_VAR}={directory}".encode()
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            proc = _read_proc(int(name), directory, marker)
            if proc is not None:
                procs[proc.pid] = proc
    ours = {p.pid for p in procs.values() if p.marked or p.in_dir} | (roots & procs.keys())
    grown = True
    while grown:
        children = {p.pid for p in procs.values() if p.ppid in ours} - ours
        grown = bool(children)
        ours |= children
    return ours - _ancestors()


def kill_processes_of(host_dir: Path, roots: set[int], grace: float = 3.0) -> None:
    """SIGTERM everything `processes_of` finds, then SIGKILL what is still there."""
    pids = processes_of(host_dir, roots)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = processes_of(host_dir, roots)
    for _ in range(10):  # SIGKILL until nothing new appears (a supervisor may respawn)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        pids = processes_of(host_dir, roots)


class TestHost:
    """One sshd on ADDR:PORT, accepting root with the fleet's client key."""

    __test__ = False  # not a test class, despite the name

    def __init__(
        self, address: str, base: Path, client_public_key: str, port: int = DEFAULT_PORT
    ) -> None:
        self.address = address
        self.dir = base / address
        self.root_dir = self.dir / "root"
        self.port = port
        self.log_file = self.dir / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.dir.mkdir(parents=True)
        self.root_dir.mkdir()
        self.host_key = self.dir / "host_ed25519"
        self.host_public_key = keygen(self.host_key, f"host@{address}")
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.write_text(client_public_key + "\n")
        self.config_file = self.dir / "sshd_config"
        self.sftp = True  # False: an sshd without `Subsystem sftp` (restart to apply)
        self.max_startups = "50:30:100"  # sshd's MaxStartups (restart to apply)

    def __repr__(self) -> str:
        return f"TestHost({self.address}:{self.port}, running={self.running})"

    @property
    def target(self) -> SshTarget:
        return SshTarget(host=self.address, user="root", port=self.port)

    @property
    def known_hosts_line(self) -> str:
        """This host's key as a known_hosts line: `[ADDR]:PORT ssh-ed25519 AAAA...`."""
        key_type, key = self.host_public_key.split()[:2]
        return f"[{self.address}]:{self.port} {key_type} {key}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _write_config(self) -> None:
        self.config_file.write_text(
            f"""\
ListenAddress {self.address}:{self.port}
HostKey {self.host_key}
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
PermitUserEnvironment no
MaxStartups {self.max_startups}
{"Subsystem sftp internal-sftp" if self.sftp else "# no SFTP subsystem"}
SetEnv {MARKER_VAR}={self.dir}
LogLevel INFO
"""
        )

    def start(self) -> None:
        """Start sshd (no-op if running); moves to the next free port if needed."""
        if self.running:
            return
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)  # sshd refuses to start without it
        for _ in range(_PORT_ATTEMPTS):
            if self._try_start():
                return
            self.port += 1
        raise SshdError(f"{self.address}: no free port from {self.port - _PORT_ATTEMPTS} on")

    def _try_start(self) -> bool:
        """Start sshd on self.port; False if the port was taken."""
        self._write_config()
        with open(self.log_file, "wb") as log:
            self._process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        listening = f"Server listening on {self.address} port {self.port}."
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log_file.read_text(errors="replace")
            if listening in text and self._accepts_connections():
                return True
            if self._process.poll() is not None:
                self._process = None
                if "Address already in use" in text:
                    return False
                raise SshdError(f"sshd for {self.address}:{self.port} exited:\n{text}")
            time.sleep(0.02)
        self.stop()
        raise SshdError(f"sshd for {self.address}:{self.port} did not come up:\n{text}")

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Kill sshd, every session it started and anything they left behind."""
        roots = set()
        if self._process is not None:
            roots.add(self._process.pid)
        kill_processes_of(self.dir, roots)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            self._process = None


class SshFleet:
    """Test hosts sharing one client key, one known_hosts file and one empty ssh config.

    Call it: `fleet(n)` returns the first n hosts, started (hosts are reused between
    calls and restarted if a test stopped them; their root_dir is NOT wiped).
    """

    __test__ = False

    def __init__(self, base: Path | None = None, port: int = DEFAULT_PORT) -> None:
        self.base = base or Path(tempfile.mkdtemp(prefix="syt-", dir="/tmp"))
        # like a server's /srv: nginx's workers (another user) must reach sockets below it
        self.base.chmod(0o711)
        self.port = port
        self.hosts: list[TestHost] = []
        self.client_key = self.base / "client_ed25519"
        self.client_public_key = keygen(self.client_key, "shipyard-tests")
        self.known_hosts = self.base / "known_hosts"
        self.known_hosts.write_text("")
        self.ssh_config = self.base / "ssh_config"  # empty: ~/.ssh/config must not leak in
        self.ssh_config.write_text("")
        atexit.register(self.stop)

    def __call__(self, n: int) -> list[TestHost]:
        if not 1 <= n <= 200:
            raise ValueError(f"ask for 1-200 hosts, not {n}")
        self._preflight()
        while len(self.hosts) < n:
            address = f"127.0.0.{FIRST_ADDRESS + len(self.hosts)}"
            self.hosts.append(TestHost(address, self.base, self.client_public_key, self.port))
        for host in self.hosts[:n]:
            host.start()
        self.write_known_hosts()
        return self.hosts[:n]

    @staticmethod
    def _preflight() -> None:
        if os.geteuid() != 0:
            raise SshdError("integration tests start sshd and need root (privilege separation)")
        if not os.access(SSHD, os.X_OK):
            raise SshdError(f"{SSHD} not found: run scripts/setup (installs openssh-server)")

    def write_known_hosts(self, path: Path | None = None) -> Path:
        """Write every started host's key to known_hosts (or to path); return the file."""
        path = path or self.known_hosts
        path.write_text("".join(h.known_hosts_line + "\n" for h in self.hosts if h.running))
        return path

    def options(self, **overrides: Any) -> SshOptions:
        """SshOptions for reaching the hosts: fleet key, known_hosts, empty ssh config."""
        options = SshOptions(
            known_hosts=self.known_hosts,
            identity_file=self.client_key,
            config_file=self.ssh_config,
            connect_timeout=10.0,
        )
        return replace(options, **overrides)

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()

    def cleanup(self) -> None:
        """Stop all hosts and remove the fleet's directory (unless SHIPYARD_TEST_KEEP=1)."""
        self.stop()
        atexit.unregister(self.stop)
        if os.environ.get(KEEP_VAR) != "1":
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def ssh_hosts() -> Iterator[SshFleet]:
    """A factory of sshd test hosts for one test module: `ssh_hosts(n)`."""
    fleet = SshFleet()
    try:
        yield fleet
    finally:
        fleet.cleanup()
