"""A fresh Debian 12 or Ubuntu 24.04 server for the setup tests: a debootstrap root, an
sshd in a chroot.

Three images (`Image`), each built once and cached outside the repository, in
`$SHIPYARD_FRESH_ROOT_CACHE` (default /var/cache/shipyard-tests):

- MINBASE, bookworm-minbase.tar.zst: `--variant=minbase` plus openssh-server and
  python3, as a fresh droplet has them (about a minute with the mirror);
- BOOTABLE, bookworm-minbase-systemd.tar.zst: the same plus systemd, systemd-sysv and
  dbus, so that systemd can boot it as PID 1 (tests/support/booted_root.py);
- NOBLE, noble-minbase.tar.zst: Ubuntu 24.04 from archive.ubuntu.com, minbase plus
  openssh-server and python3, with `main` and `universe` as an Ubuntu droplet has them
  (the release pocket only). debootstrap checks it with Ubuntu's archive key, from the
  ubuntu-keyring package whose sha256 is pinned below (`ubuntu_keyring`).

A machine without them builds them (scripts/setup.d/50-fresh-root.sh does at setup).
Package downloads of apt inside every copy go to one cache dir per distribution beside
them, bind-mounted into the copy, so repeated runs download nothing.

`FreshHost` unpacks a copy, mounts /proc, /dev and the apt cache, gives it new host
keys, and starts the copy's own /usr/sbin/sshd inside `chroot` on a loopback alias.
Services are not started by package installs in the copy (policy-rc.d says 101, as in
a container): there is no systemd as PID 1 here. `stop()` kills every process whose root
is the copy (sshd, supervisord, nginx, the app, whatever a test left), unmounts and
removes it.

    python3 tests/support/fresh_root.py     # build the image if it is missing
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
UBUNTU_MIRROR = "http://archive.ubuntu.com/ubuntu"
UBUNTU_SUITE = "noble"
# ubuntu-keyring from noble's main (its archive key: F6ECB3762474EDA9D21B7022871920D1991BC93C)
UBUNTU_KEYRING_DEB = "pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb"
UBUNTU_KEYRING_SHA256 = "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8"
CACHE = Path(os.environ.get("SHIPYARD_FRESH_ROOT_CACHE") or "/var/cache/shipyard-tests")
APT_CACHE = CACHE / "apt-archives"


class Image(enum.Enum):
    """Which root: the suite, the packages debootstrap adds to minbase, the cached file."""

    MINBASE = (SUITE, ("openssh-server", "python3"))
    BOOTABLE = (SUITE, ("openssh-server", "python3", "systemd", "systemd-sysv", "dbus"))
    NOBLE = (UBUNTU_SUITE, ("openssh-server", "python3"))

    @property
    def suite(self) -> str:
        return str(self.value[0])

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(self.value[1])

    @property
    def path(self) -> Path:
        suffix = "-systemd" if self is Image.BOOTABLE else ""
        return CACHE / f"{self.suite}-minbase{suffix}.tar.zst"

    @property
    def apt_cache(self) -> Path:
        """apt's downloads for copies of this image (one per distribution: Debian's and
        Ubuntu's packages may share a file name and differ)."""
        return APT_CACHE if self.suite == SUITE else CACHE / f"apt-archives-{self.suite}"

    def debootstrap(self, root: Path) -> list[str]:
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(self.packages)}"]
        if self.suite == SUITE:
            return [*argv, SUITE, str(root), MIRROR]
        return [
            *argv, "--components=main,universe", f"--keyring={ubuntu_keyring()}",
            self.suite, str(root), UBUNTU_MIRROR, "/usr/share/debootstrap/scripts/gutsy",
        ]  # fmt: skip


def ubuntu_keyring() -> Path:
    """Ubuntu's archive keyring, from its package checked against the pinned sha256."""
    keyring = CACHE / "ubuntu-archive-keyring.gpg"
    if keyring.is_file():
        return keyring
    with tempfile.TemporaryDirectory(prefix="ubuntu-keyring-", dir=CACHE) as scratch:
        deb = Path(scratch) / "ubuntu-keyring.deb"
        subprocess.run(
            ["curl", "-fsS", "--retry", "3", "-o", str(deb),
             f"{UBUNTU_MIRROR}/{UBUNTU_KEYRING_DEB}"],
            check=True,
        )  # fmt: skip
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != UBUNTU_KEYRING_SHA256:
            raise RuntimeError(f"{UBUNTU_KEYRING_DEB} has sha256 {digest}, not the pinned one")
        subprocess.run(["dpkg-deb", "-x", str(deb), scratch], check=True)
        partial = keyring.with_suffix(".partial")
        shutil.copy(Path(scratch) / "usr/share/keyrings/ubuntu-archive-keyring.gpg", partial)
        partial.rename(keyring)
    return keyring


def ensure_image(image: Image = Image.MINBASE) -> Path:
    """Build the image unless it is there (one builder at a time); return its path."""
    if image.path.is_file():
        return image.path
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image.path.is_file():
            _build(image)
    return image.path


def _build(image: Image) -> None:
    started = time.monotonic()
    target = image.path
    print(f"fresh-root: building {target} with debootstrap ({image.suite})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="fresh-root-", dir=CACHE) as scratch:
        root = Path(scratch) / "root"
        subprocess.run(image.debootstrap(root), check=True, stdout=subprocess.DEVNULL)
        image.apt_cache.mkdir(parents=True, exist_ok=True)
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            shutil.move(str(deb), image.apt_cache / deb.name)  # later copies install from here
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()  # every copy gets its own
        if image is Image.BOOTABLE:
            (root / "etc/machine-id").write_text("")  # every boot of a copy makes its own
        partial = target.with_suffix(".partial")
        subprocess.run(
            f"tar --numeric-owner -C {root} -cf - . | zstd -q -T2 -3 -o {partial} -f",
            shell=True, check=True,
        )  # fmt: skip
        partial.rename(target)
    took = time.monotonic() - started
    size = target.stat().st_size >> 20
    print(f"fresh-root: built {target.name} in {took:.0f} s ({size} MiB)", file=sys.stderr)


def private_apt_cache(path: Path, shared: Path) -> Path:
    """A copy's own apt archive directory, seeded with hard links to the shared cache's
    packages: nothing is downloaded again, and no apt-get waits on (or fails at) the lock
    of another test's apt-get, as it did when fresh roots installed at once through one
    shared directory ("Could not get lock /var/cache/apt/archives/lock")."""
    path.mkdir(parents=True, exist_ok=True)
    for deb in shared.glob("*.deb") if shared.is_dir() else ():
        if (path / deb.name).exists():
            continue
        try:
            os.link(deb, path / deb.name)
        except OSError:  # another file system
            with contextlib.suppress(OSError):
                shutil.copy2(deb, path / deb.name)
    return path


def keep_downloads(path: Path, shared: Path) -> None:
    """Give the shared cache the packages a copy downloaded (whole files only: apt keeps
    partial downloads in partial/), each under a temporary name first, then renamed."""
    shared.mkdir(parents=True, exist_ok=True)
    for deb in path.glob("*.deb"):
        target = shared / deb.name
        if target.exists():
            continue
        scratch = shared / f".{deb.name}.{os.getpid()}"
        try:
            try:
                os.link(deb, scratch)
            except OSError:
                shutil.copy2(deb, scratch)
            os.rename(scratch, target)
        except OSError:
            with contextlib.suppress(OSError):
                scratch.unlink()


class FreshHost:
    """A copy of the image with its own sshd on ADDRESS:PORT, reachable as root."""

    def __init__(
        self,
        address: str,
        port: int,
        client_public_key: str,
        apt_cache: Path | None = None,
        image: Image = Image.MINBASE,
    ) -> None:
        self.address = address
        self.image = image
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="fresh-", dir="/var/tmp"))
        # None: a private cache seeded from the image's shared one, given back at stop()
        self._shared_apt = image.apt_cache if apt_cache is None else None
        self.apt_cache = apt_cache or private_apt_cache(self.dir / "apt-archives", image.apt_cache)
        self.root = self.dir / "root"
        self.log_file = self.dir / "sshd.log"
        self._mounts: list[Path] = []
        self._sshd: subprocess.Popen[bytes] | None = None
        self._unpack(client_public_key)

    def _unpack(self, client_public_key: str) -> None:
        self.root.mkdir()
        subprocess.run(
            f"zstd -dc {ensure_image(self.image)} | tar --numeric-owner -C {self.root} -xf -",
            shell=True, check=True,
        )  # fmt: skip
        policy = self.root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\n# a chroot: package installs start no service\nexit 101\n")
        policy.chmod(0o755)
        shutil.copy("/etc/resolv.conf", self.root / "etc/resolv.conf")
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(client_public_key + "\n")
        subprocess.run(["chroot", str(self.root), "ssh-keygen", "-A"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        self.apt_cache.mkdir(parents=True, exist_ok=True)
        self._mount(["-t", "proc", "proc"], self.root / "proc")
        self._mount(["--bind", "/dev"], self.root / "dev")
        self._mount(["--bind", str(self.apt_cache)], self.root / "var/cache/apt/archives")

    def _mount(self, args: list[str], where: Path) -> None:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", *args, str(where)], check=True)
        self._mounts.append(where)

    @property
    def known_hosts_line(self) -> str:
        key = (self.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        return f"[{self.address}]:{self.port} {key[0]} {key[1]}"

    def start_sshd(self) -> None:
        (self.root / "run/sshd").mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "wb") as log:
            self._sshd = subprocess.Popen(
                ["chroot", str(self.root), "/usr/sbin/sshd", "-D", "-e",
                 "-o", f"ListenAddress={self.address}:{self.port}", "-o", "UseDNS=no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, self.port), timeout=1),
            ):
                return
            if self._sshd.poll() is not None:
                raise RuntimeError(f"sshd in {self.root} exited: {self.log_file.read_text()}")
            time.sleep(0.05)
        raise RuntimeError(f"sshd in {self.root} did not listen: {self.log_file.read_text()}")

    def run(self, *argv: str, user: str = "root") -> subprocess.CompletedProcess[str]:
        """Run a command inside the copy (chroot), as `user`."""
        command = ["chroot", str(self.root)]
        if user != "root":
            command += ["runuser", "-u", user, "--"]
        return subprocess.run([*command, *argv], capture_output=True, text=True, check=False)

    def add_sudo_user(self, name: str, public_key: str) -> None:
        """A user with passwordless sudo and `public_key`, as a cloud image has one;
        root's own keys are emptied, so only that user's sudo is left to log in with.
        Installs sudo first (minbase has none): apt downloads it into the apt cache."""
        install = self.run(
            "sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
            "apt-get install -y -qq --no-install-recommends sudo",
        )  # fmt: skip
        if install.returncode != 0:
            raise RuntimeError(f"apt-get install sudo in {self.root}: {install.stderr}")
        if self.run("useradd", "-m", "-s", "/bin/bash", name).returncode != 0:
            raise RuntimeError(f"useradd {name} in {self.root} failed")
        ssh = self.root / "home" / name / ".ssh"
        ssh.mkdir(mode=0o700)
        (ssh / "authorized_keys").write_text(public_key + "\n")
        self.run("chown", "-R", f"{name}:{name}", f"/home/{name}/.ssh")
        sudoers = self.root / "etc/sudoers.d" / name
        sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
        sudoers.chmod(0o440)
        (self.root / "root/.ssh/authorized_keys").write_text("")

    def start_unit(self, unit: str, log: Path) -> subprocess.Popen[bytes]:
        """Start a systemd unit's command inside the copy as systemd would: as its
        `User=`, in its `WorkingDirectory=`, with a clean environment (no systemd runs
        here). Its own session: stop it with os.killpg."""
        settings = {}
        for line in (self.root / unit.lstrip("/")).read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                settings[key.strip()] = value.strip()
        user = settings.get("User", "root")
        home = "/root" if user == "root" else f"/home/{user}"
        with open(log, "wb") as out:
            return subprocess.Popen(
                ["chroot", str(self.root), "/usr/sbin/runuser", "-u", user, "--",
                 "/usr/bin/env", "-i", f"HOME={home}", f"USER={user}", "LANG=C.UTF-8",
                 "PATH=/usr/local/bin:/usr/bin:/bin", "/bin/sh", "-c",
                 'cd "$1" && shift && exec "$@"', "sh", settings.get("WorkingDirectory", home),
                 *shlex.split(settings["ExecStart"])],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def processes(self) -> list[int]:
        """Every process whose root directory is this copy."""
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{name}/root") == str(self.root):
                    found.append(int(name))
        return found

    def stop(self) -> list[int]:
        """Kill everything in the copy, unmount, remove it; return what had to be killed."""
        left = self.processes()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 5
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.05)
        if self._sshd is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._sshd.wait(timeout=5)
        for where in reversed(self._mounts):
            subprocess.run(["umount", "-l", str(where)], check=False)
        self._mounts.clear()
        mounted = [line for line in Path("/proc/mounts").read_text().splitlines()
                   if f" {self.root}/" in line]  # fmt: skip
        if mounted:  # never remove through a mount (the bind of /dev above all)
            raise RuntimeError(f"still mounted in {self.root}: {mounted}")
        if self._shared_apt is not None:
            keep_downloads(self.apt_cache, self._shared_apt)
        if os.environ.get("SHIPYARD_TEST_KEEP") != "1":  # 1: keep the copy to look at
            shutil.rmtree(self.dir, ignore_errors=True)
        return left


if __name__ == "__main__":
    for wanted in Image:
        ensure_image(wanted)
