"""Shared pieces of the fault-injection suite (tests/faults).

`FaultEnv` is one environment of the example app, local or on SSH test hosts, driven only
through the real CLI (`deploy`, `status --json`, ...) and the host operations
(`python -m shipyard.host OP`), with the checks every fault test makes afterwards:
is every host serving, is the state consistent, does the next deploy succeed.

Also here: a CLI run in the background whose output can be waited on line by line
(`Running`), a small tmpfs for disk-full tests, and a lock planted with a dead owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from support.apprepo import SHIPYARD, AppRepo, free_port, git, make_repo
from support.linkcut import LinkCut
from support.sshd import SshFleet, TestHost

APP = "reconcile"
# A release that never gets healthy fails after `deadline`; on a machine busier than CI,
# SHIPYARD_TEST_HEALTH_DEADLINE gives a starting app more time.
HEALTH = {
    "path": "/healthz",
    "interval": 0.1,
    "deadline": float(os.environ.get("SHIPYARD_TEST_HEALTH_DEADLINE", "3")),
}
# The post-switch analysis watches every deploy for 10 s by default; the faults here are
# about other things, so it is off unless a test turns it on (tests/faults/test_observe.py).
NO_OBSERVE = {"window": 0}
# The quality gates (bandit, pip-audit) check the app's code before every deploy: not what
# these tests are about, and they take time.
NO_GATES = {"bandit": {"enabled": False}, "pip_audit": {"enabled": False}}


# -- host operations ---------------------------------------------------------------------


def host_op(op: str, request: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Run one host operation here, as Shipyard does: JSON request in, JSON result out."""
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.host", op],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(f"host op {op} printed nothing: {result.stderr}")
    reply: dict[str, Any] = json.loads(lines[-1])
    return reply


class Leaked(Exception):
    """Cleanup left something behind; the message says what and where."""


def shutdown_env(root: Path, env: str) -> None:
    """Stop the environment's supervisord, nginx and apps on one host. Raises Leaked,
    naming them, if the shutdown fails or any of its processes still runs."""
    where = f"{root} ({env})"
    try:
        reply = host_op("shutdown", {"root": str(root), "app": APP, "env": env}, timeout=60)
    except subprocess.TimeoutExpired:
        raise Leaked(f"{where}: shutdown did not answer within 60 s") from None
    except (AssertionError, json.JSONDecodeError) as exc:  # no reply, or not JSON
        raise Leaked(f"{where}: shutdown failed: {exc}") from None
    if not reply.get("ok"):
        raise Leaked(f"{where}: shutdown failed: {reply.get('error')}")
    left = processes_under(root / APP / env)
    if left:
        raise Leaked(f"{where}: still running after shutdown: {'; '.join(left)}")


def processes_under(path: Path, grace: float = 10) -> list[str]:
    """`pid: command line` of the processes whose command line names `path`, once those
    that are exiting have had `grace` seconds to go."""
    deadline = time.monotonic() + grace
    while True:
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, UnicodeDecodeError, IndexError):
                continue  # gone meanwhile, or not ours
            if str(path) in cmdline and state != "Z":
                found.append(f"{proc.name}: {cmdline.strip()}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped) on this machine."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def plant_stale_lock(root: Path, env: str, actor: str = "crashed-operator") -> dict[str, Any]:
    """Make the environment's lock look like a deploy whose operator died on this machine:
    a heartbeat (so it is a deploy's lock, not a manual one) and a pid that is gone."""
    holder = {
        "actor": actor,
        "operator_host": os.uname().nodename,
        "pid": dead_pid(),
        "reason": "deploy that was killed",
        "command": "deploy",
        "deployment_id": "20000101T000000Z-dead00",
    }
    reply = host_op(
        "lock-acquire",
        {"root": str(root), "app": APP, "env": env}
        | {"holder": holder, "heartbeat": True, "force": False},
    )
    assert reply.get("acquired"), reply
    return holder


class SlotGuard:
    """A host's slot mutex, held by the test; who is waiting for it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def waiters(self) -> list[str]:
        """The command lines of the processes blocked on this mutex (from /proc/locks)."""
        stat = self.path.stat()
        inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
        found = []
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "->" and fields[6] == inode:
                try:
                    cmdline = Path(f"/proc/{fields[5]}/cmdline").read_bytes()
                except OSError:
                    continue
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
        return found

    def wait_for_agent(self, timeout: float = 60) -> None:
        """Until a host agent (`shipyard host serve` or the resident agent, not the reaper)
        waits for the mutex:
        its request has arrived and the host is working on it."""
        deadline = time.monotonic() + timeout
        while not any(_is_agent(argv) for argv in self.waiters()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no host agent waited for {self.path}: {self.waiters()}")
            time.sleep(0.02)


@contextlib.contextmanager
def holding_slot_guard(base: Path) -> Iterator[SlotGuard]:
    """Hold a host's slot mutex (run/slots.lock, what boot, switch and stop-slot take):
    those operations on that host wait until the block ends."""
    path = base / "run" / "slots.lock"
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield SlotGuard(path)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stop_sshd(host: TestHost) -> None:
    """Stop only the host's sshd (no new SSH connections); unlike TestHost.stop(), leave
    the environment's processes that were started through it running. start() undoes it."""
    process = host._process
    assert process is not None, host
    process.terminate()
    process.wait(10)


# -- tmpfs -------------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size_kb: int) -> Iterator[Path]:
    """Mount a tmpfs of size_kb KiB at path (under /tmp only) for the block's duration."""
    path = path.resolve()
    if path.parts[:2] != ("/", "tmp") or len(path.parts) < 3:
        raise ValueError(f"tmpfs only under /tmp, not at {path}")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(path)],
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        unmount(path)


def unmount(path: Path) -> None:
    for _ in range(20):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.25)  # something still has a file open there: give it a moment
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


# -- a CLI run in the background ---------------------------------------------------------


class Running:
    """A `shipyard` command running in the background; its stdout read line by line."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: list[str] = []
        self._stderr: list[str] = []
        self._new_line = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._new_line.notify_all()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def wait_for_line(self, pattern: str, timeout: float = 60) -> str:
        """Block until a stdout line matches the regex; return it (AssertionError if the
        command ends or the time runs out first)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._new_line:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                finished = self.process.poll() is not None and not self._readers[0].is_alive()
                left = deadline - time.monotonic()
                if finished or left <= 0:
                    raise AssertionError(
                        f"no output line matching {pattern!r} "
                        f"({'the command ended' if finished else 'timed out'}):\n"
                        + "\n".join(self.lines)
                        + "\n"
                        + "".join(self._stderr)
                    )
                self._new_line.wait(min(left, 0.2))

    def result(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        for reader in self._readers:
            reader.join(10)
        return subprocess.CompletedProcess(
            self.argv, code, "\n".join(self.lines) + "\n", "".join(self._stderr)
        )


# -- an environment of the example app ---------------------------------------------------


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@dataclass
class FaultEnv:
    """One environment (`name`) of the example app in `repo`, on one or more hosts."""

    repo: AppRepo
    name: str
    roots: list[Path]  # each host's `root`
    urls: list[str]  # each host's nginx, /healthz
    home: Path  # HOME for the CLI: its artifact cache is this test's own
    hosts: list[TestHost] = field(default_factory=list)  # SSH test hosts, if any

    @property
    def cli_env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PYTHONUNBUFFERED": "1"}

    def base(self, index: int = 0) -> Path:
        """Where the environment lives on host `index`: <root>/reconcile/<env>."""
        return self.roots[index] / APP / self.name

    # -- the CLI ---------------------------------------------------------------------------

    def shipyard(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        kill_after: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`shipyard COMMAND [SUB] ENV ARGS...`: the environment name goes after the command
        (and after `lock`'s subcommand)."""
        command = list(args[:2]) if args[0] == "lock" else [args[0]]
        rest = list(args[len(command) :])
        return self.repo.shipyard(
            *command,
            self.name,
            *rest,
            env=self.cli_env | (env or {}),
            timeout=timeout,
            kill_after=kill_after,
        )

    def deploy(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.shipyard("deploy", *args, **kwargs)

    def start(self, *args: str, env: dict[str, str] | None = None) -> Running:
        """Start `shipyard COMMAND ENV ARGS...` in the background (plain output, as in CI)."""
        argv = [*SHIPYARD, args[0], self.name, *args[1:], "-c", str(self.repo.config)]
        full = {**os.environ, "CI": "true", **self.cli_env, **(env or {})}
        return Running(argv, self.repo.path, full)

    def json(self, *args: str) -> Any:
        result = self.shipyard(*args, "--json")
        assert result.returncode == 0, output(result)
        return json.loads(result.stdout)

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.json("status")
        return data

    def history(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.json("history")
        return data

    def releases(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.json("releases")
        return data

    # -- the app repository ------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.repo.config.read_text())
        return data

    def configure(self, change: Callable[[dict[str, Any]], None], message: str) -> str:
        """Edit shipyard.yml and commit it (a deploy refuses a dirty tree); the new commit."""
        data = self.config()
        change(data)
        self.repo.write_config(data)
        return self.commit(message)

    def env_settings(self, data: dict[str, Any]) -> dict[str, Any]:
        """This environment's own section of a config dict."""
        section: dict[str, Any] = data["environments"][self.name]
        return section

    def commit(self, message: str) -> str:
        git(self.repo.path, "add", "-A")
        git(self.repo.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.repo.path, "rev-parse", "HEAD")[:12]

    def commit_version(self, version: str) -> str:
        return self.repo.commit_version(version)

    # -- what the hosts do -------------------------------------------------------------------

    def served(self) -> list[tuple[int, str | None, str | None]]:
        """(status, X-Release, X-App-Version) through each host's nginx, one GET each."""
        answers = []
        for url in self.urls:
            try:
                response = httpx.get(url, timeout=5)
            except httpx.HTTPError as exc:
                answers.append((0, None, f"{type(exc).__name__}: {exc}"))
                continue
            answers.append(
                (
                    response.status_code,
                    response.headers.get("X-Release"),
                    response.headers.get("X-App-Version"),
                )
            )
        return answers

    def release_dirs(self, index: int = 0) -> set[str]:
        """Every entry in releases/ on host `index`, hidden ones (half-unpacked) included."""
        releases = self.base(index) / "releases"
        return {p.name for p in releases.iterdir()} if releases.exists() else set()

    def assert_serving(self, version: str, release: str | None = None) -> None:
        """Every host's nginx answers 200 with this app version (and release id)."""
        for url, (status, served_release, served_version) in zip(
            self.urls, self.served(), strict=True
        ):
            assert (status, served_version) == (200, version), (url, status, served_version)
            if release is not None:
                assert served_release == release, (url, served_release, release)

    def assert_consistent(self, release: str | None = None) -> dict[str, Any]:
        """`status --json`: lock free; on every host the active slot's process is RUNNING
        and answers its probe, and every host is active on the same release (`release`)."""
        status = self.status()
        assert status["lock"] is None, status["lock"]
        actives = set()
        for host in status["hosts"]:
            assert host.get("initialised"), host
            active = [s for s in host["slots"] if s["active"]]
            assert len(active) == 1, host
            assert active[0]["process"] == "RUNNING", (host["host"], active[0])
            probe = active[0]["probe"]
            assert probe and probe["status"] == 200, (host["host"], probe)
            actives.add(host["active_release"])
            assert active[0]["release_id"] == host["active_release"], host
        assert len(actives) == 1, f"hosts are active on different releases: {status['hosts']}"
        if release is not None:
            assert actives == {release}, (actives, release)
        return status

    def assert_deploys(self, version: str) -> str:
        """A following deploy succeeds and serves `version` on every host; its release id."""
        result = self.deploy()
        assert result.returncode == 0, output(result)
        release = release_of(result)
        self.assert_serving(version, release)
        return release

    def shutdown(self) -> None:
        """Stop the environment on every host; Leaked names what any of them left."""
        leaks = []
        for root in self.roots:
            try:
                shutdown_env(root, self.name)
            except Leaked as exc:
                leaks.append(str(exc))
        if leaks:
            raise Leaked("\n".join(leaks))


# -- making and discarding environments ---------------------------------------------------


class Janitor:
    """Cleanup that runs in the background; `finish()` waits for all of it."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="janitor")
        self._pending: list[Future[None]] = []

    def later(self, *jobs: Callable[[], None]) -> None:
        self._pending += [self._pool.submit(job) for job in jobs]

    def finish(self) -> None:
        """Wait for every job; fail, listing them all, if any left something behind."""
        pending, self._pending = self._pending, []
        leaks: list[str] = []
        for job in pending:
            try:
                job.result(timeout=180)
            except Leaked as exc:
                leaks.append(str(exc))
            except FutureTimeout:
                leaks.append("a cleanup job did not finish within 180 s")
        if leaks:
            raise AssertionError("cleanup left environments behind:\n" + "\n".join(leaks))

    def close(self) -> None:
        self.finish()
        self._pool.shutdown()


def new_workdir() -> Path:
    # short: unix socket paths under it are limited to 107 bytes
    path = Path(tempfile.mkdtemp(prefix="syf-", dir="/tmp"))
    path.chmod(0o755)  # nginx's workers (user nobody) must reach the sockets inside
    return path


def new_local_env() -> FaultEnv:
    """The example app in a fresh repository, with an environment `local` on this
    machine (not deployed yet)."""
    workdir = new_workdir()
    port = free_port()
    root = workdir / "hosts"
    repo = make_repo(workdir / "repo", local_settings(root, port))
    return FaultEnv(repo, "local", [root], [f"http://127.0.0.1:{port}/healthz"], workdir / "home")


def discard_local_env(env: FaultEnv) -> None:
    try:
        env.shutdown()
    finally:
        remove_tree(env.repo.path.parent)


@dataclass
class Fleet:
    """The module's environment on three SSH hosts; the second reached through `link`.
    `version` and `release` are what it serves now (each test that deploys updates them)."""

    env: FaultEnv
    link: LinkCut
    version: str
    release: str


# -- configurations ----------------------------------------------------------------------


def local_settings(root: Path, port: int, name: str = "local") -> dict[str, Any]:
    return {
        "app": APP,
        "start": "python3 app.py",
        "health": dict(HEALTH),
        "nginx": {"listen": f"127.0.0.1:{port}"},
        "drain_timeout": 2,
        "observe": dict(NO_OBSERVE),
        "gates": dict(NO_GATES),
        "environments": {name: {"hosts": ["local"], "root": str(root)}},
    }


def ssh_settings(
    fleet: SshFleet,
    hosts: list[TestHost],
    name: str,
    port: int,
    known_hosts: Path,
    addresses: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Config for an environment on SSH test hosts; `addresses` maps a host's IP to the
    address to use instead (e.g. a LinkCut forwarder's `root@IP:PORT`)."""
    addresses = addresses or {}
    return {
        "app": APP,
        "start": "python3 app.py",
        "health": dict(HEALTH),
        "drain_timeout": 2,
        "observe": dict(NO_OBSERVE),
        "gates": dict(NO_GATES),
        "shipyard_command": f"{sys.executable} -m shipyard",
        "ssh": {
            "known_hosts": str(known_hosts),
            "identity_file": str(fleet.client_key),
            "config_file": str(fleet.ssh_config),
            "connect_timeout": 5,
        },
        "environments": {
            name: {
                "hosts": [
                    {
                        "address": addresses.get(host.address, str(host.target)),
                        "root": str(host.root_dir),
                        "listen": f"{host.address}:{port}",
                    }
                    for host in hosts
                ]
            }
        },
    }


def known_hosts_for(hosts: list[TestHost], path: Path, extra: dict[str, int] | None = None) -> Path:
    """A known_hosts file with every host's key, and for each IP in `extra` also under
    `[IP]:PORT` (a forwarder in front of that host's sshd presents the same key)."""
    lines = [host.known_hosts_line for host in hosts]
    for host in hosts:
        if extra and host.address in extra:
            key_type, key = host.host_public_key.split()[:2]
            lines.append(f"[{host.address}]:{extra[host.address]} {key_type} {key}")
    path.write_text("".join(line + "\n" for line in lines))
    return path


def open_up(path: Path) -> None:
    """nginx's workers (user nobody) must reach sockets under path: o+x on /tmp/... parts."""
    for part in [path, *path.parents]:
        if str(part).startswith("/tmp/"):
            part.chmod(part.stat().st_mode | 0o005)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=False)
    if path.exists():
        raise Leaked(f"{path} could not be removed")


# -- the checks every fault test makes ---------------------------------------------------


def release_of(result: subprocess.CompletedProcess[str]) -> str:
    """The release id a deploy announced (`release ID (commit ...) -> ENV ...`)."""
    match = re.search(r"^release (\S+) \(commit", result.stdout, re.MULTILINE)
    assert match, output(result)
    return match.group(1)


def first_deploy(env: FaultEnv, version: str = "1.0.0") -> str:
    """Deploy what is committed; it must succeed and serve everywhere. Its release id."""
    result = env.deploy()
    assert result.returncode == 0, output(result)
    release = release_of(result)
    env.assert_serving(version, release)
    return release


def assert_failed_cleanly(
    env: FaultEnv,
    result: subprocess.CompletedProcess[str],
    load: Any,
    old: str,
    *,
    says: tuple[str, ...] = (),
    version: str = "1.0.0",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A deploy that failed before going live: exit 1 saying why, not one failed request
    (every answer from the old release), the old release active and serving everywhere,
    the lock free, and the attempt recorded as failed. `status --json` and the newest
    history record."""
    assert result.returncode == 1, output(result)
    for text in says:
        assert text in result.stderr, output(result)
    assert not load.failed, load.report()
    assert set(load.releases()) == {old}, load.report()
    env.assert_serving(version, old)
    status = env.assert_consistent(old)
    newest: dict[str, Any] = status["last_deployment"]  # the newest history record
    assert (newest["kind"], newest["outcome"]) == ("deploy", "failed"), newest
    assert newest["release_id"] == release_of(result), newest
    return status, newest


def _is_agent(argv: str) -> bool:
    """A host agent's command line: one a command started, or the resident one."""
    return "host serve" in argv or "shipyard.host.resident" in argv
