"""A fresh Debian 12 server that really boots: systemd as PID 1 in systemd-nspawn.

`BootedHost` unpacks a copy of the BOOTABLE image (tests/support/fresh_root.py: minbase,
openssh-server, python3, systemd, dbus), gives it new host keys and root's authorized
key, and boots it with

    systemd-nspawn --register=no --keep-unit --boot --network-namespace-path=...

(no machined and no systemd on the host needed) in a network namespace of its own: a
veth pair, 10.250.N.1 on the host side, 10.250.N.2 in the container, nothing else, so
what it serves on 22 or 80 is reached from here as any server's would be, through its
own nftables firewall (`--capability=CAP_NET_ADMIN`). Its apt reaches the package
mirror through `MirrorProxy` on 10.250.N.1 (tests/support/http_proxy.py) and shares
the download cache of the chroot copies.

`boot()` waits until `systemctl is-system-running --wait` says the boot is over (asked
inside through nsenter); `poweroff()` asks for an orderly shutdown (nspawn passes SIGTERM
on as SIGRTMIN+4) and waits for nspawn to exit; `reboot()` is both, so every unit starts
again from what setup left in the copy. The copy lives on a tmpfs of its own, which
survives the reboots and is unmounted at the end (removing a set-up copy file by file
from this machine's shared disk took over a minute). `stop()` always ends it (SIGKILL of
the container's PID 1 ends its whole PID namespace when asking did not), deletes the
network namespace and the copy; it is safe to call twice and after a failed boot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support.fresh_root import APT_CACHE, Image, ensure_image, keep_downloads, private_apt_cache
from support.http_proxy import MirrorProxy, mirror_hosts

BOOT_TIMEOUT = 180  # seconds: a loaded 2-core CI machine
TMPFS_SIZE = "3g"  # the copy lives in memory: about 0.3 GB fresh, more once set up
SHUTDOWN_TIMEOUT = 120


def nspawn_available() -> str | None:
    """Why a booted root cannot run here, or None when it can."""
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is not installed (scripts/setup installs systemd-container)"
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    return None


class BootedHost:
    """A booted copy of the image on 10.250.NET.2, sshd on port 22, root by key."""

    port = 22

    def __init__(self, net: int, client_public_key: str, apt_cache: Path | None = None) -> None:
        self.net = net
        self.name = f"shipyard-boot{net}"
        self.host_address = f"10.250.{net}.1"
        self.address = f"10.250.{net}.2"
        self.dir = Path(tempfile.mkdtemp(prefix="booted-", dir="/var/tmp"))
        # None: a private cache seeded from the shared one, given back at stop()
        self._shared_apt = APT_CACHE if apt_cache is None else None
        self.apt_cache = apt_cache or private_apt_cache(self.dir / "apt-archives", APT_CACHE)
        self.root = self.dir / "root"
        self.log_file = self.dir / "console.log"
        self.boots = 0
        self._nspawn: subprocess.Popen[bytes] | None = None
        self._proxy: MirrorProxy | None = None
        self._netns = False
        self._veth = f"sy{net}h"  # host side; the container's end is "host0"
        self._tmpfs = False
        try:
            self._unpack(client_public_key)
            self._network()
        except BaseException:
            self.stop()
            raise

    def _unpack(self, client_public_key: str) -> None:
        self.root.mkdir()
        # in memory: a set-up copy is tens of thousands of files, and removing them from
        # this machine's shared disk took over a minute; unmounting takes none
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"mode=0755,size={TMPFS_SIZE}",
                        "shipyard-booted", str(self.root)], check=True)  # fmt: skip
        self._tmpfs = True
        subprocess.run(
            f"zstd -dc {ensure_image(Image.BOOTABLE)} | tar --numeric-owner -C {self.root} -xf -",
            shell=True, check=True,
        )  # fmt: skip
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(client_public_key + "\n")
        subprocess.run(["chroot", str(self.root), "ssh-keygen", "-A"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        (self.root / "etc/hostname").write_text(self.name + "\n")
        self.apt_cache.mkdir(parents=True, exist_ok=True)

    def _network(self) -> None:
        if Path(f"/run/netns/{self.name}").exists():
            raise RuntimeError(
                f"network namespace {self.name} exists: another booted root on 10.250."
                f"{self.net}.0/24 runs, or a killed run left it (`ip netns del {self.name}`)"
            )
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self._netns = True
        peer = ["peer", "name", "host0", "netns", self.name]
        subprocess.run(["ip", "link", "add", self._veth, "type", "veth", *peer], check=True)
        for command in (
            ["ip", "addr", "add", f"{self.host_address}/24", "dev", self._veth],
            ["ip", "link", "set", self._veth, "up"],
            ["ip", "-n", self.name, "addr", "add", f"{self.address}/24", "dev", "host0"],
            ["ip", "-n", self.name, "link", "set", "host0", "up"],
            ["ip", "-n", self.name, "link", "set", "lo", "up"],
        ):
            subprocess.run(command, check=True)
        self._proxy = MirrorProxy(self.host_address, mirror_hosts()).start()
        proxy = f'Acquire::http::Proxy "{self._proxy.url}";\n'
        proxy += f'Acquire::https::Proxy "{self._proxy.url}";\n'
        (self.root / "etc/apt/apt.conf.d/01proxy").write_text(proxy)

    @property
    def proxy(self) -> MirrorProxy:
        assert self._proxy is not None
        return self._proxy

    @property
    def known_hosts_line(self) -> str:
        key = (self.root / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
        return f"{self.address} {key[0]} {key[1]}"

    def boot(self) -> str:
        """Boot it; return `systemctl is-system-running` once the boot is over."""
        if self._nspawn is not None:
            raise RuntimeError(f"{self.name} is already running")
        with open(self.log_file, "ab") as log:
            log.write(f"--- boot {self.boots + 1} ---\n".encode())
            log.flush()
            self._nspawn = subprocess.Popen(
                ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
                 f"--directory={self.root}", f"--machine={self.name}",
                 f"--network-namespace-path=/run/netns/{self.name}",
                 "--capability=CAP_NET_ADMIN", "--kill-signal=SIGRTMIN+4",
                 f"--bind={self.apt_cache}:/var/cache/apt/archives",
                 "--console=pipe", "--resolv-conf=off", "--timezone=off", "--link-journal=no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.boots += 1
        deadline = time.monotonic() + BOOT_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                self._nspawn = None
                raise RuntimeError(f"{self.name} exited while booting: {self.console()}")
            init = self.init_pid()
            if init is not None:
                left = max(1, int(deadline - time.monotonic()))
                result = self.nsenter("timeout", str(left), "systemctl", "is-system-running",
                                      "--wait")  # fmt: skip
                state = result.stdout.strip()
                if state in ("running", "degraded"):
                    self._wait_for_ssh(deadline)
                    return state
                if state not in ("", "initializing", "starting"):
                    break
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not boot ({state!r}): {self.console()}")

    def _wait_for_ssh(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, self.port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"sshd in {self.name} does not listen: {self.console()}")

    def init_pid(self) -> int | None:
        """The container's PID 1 as this machine sees it (nspawn's child), if running."""
        if self._nspawn is None:
            return None
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self._nspawn.pid}/task").iterdir():
                children = (task / "children").read_text().split()
                for child in children:
                    comm = Path(f"/proc/{child}/comm").read_text().strip()
                    if comm == "systemd":
                        return int(child)
        return None

    def nsenter(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """Run a command inside the running container (all its namespaces), as root."""
        init = self.init_pid()
        if init is None:
            raise RuntimeError(f"{self.name} is not running")
        return subprocess.run(["nsenter", "-t", str(init), "-a", *argv],
                              capture_output=True, text=True, check=False)  # fmt: skip

    def console(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def poweroff(self) -> int:
        """An orderly shutdown (every unit stops); return nspawn's exit status."""
        if self._nspawn is None:
            raise RuntimeError(f"{self.name} is not running")
        self._nspawn.send_signal(signal.SIGTERM)  # nspawn: SIGRTMIN+4 to the container
        try:
            code = self._nspawn.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()
            raise RuntimeError(f"{self.name} did not power off: {self.console()}") from None
        self._nspawn = None
        return code

    def reboot(self) -> str:
        """Power off and boot again: every unit starts from what is on disk."""
        self.poweroff()
        return self.boot()

    def _kill(self) -> None:
        if self._nspawn is None:
            return
        init = self.init_pid()
        if init is not None:  # PID 1 of a PID namespace: every process in it dies
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._nspawn.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._nspawn.wait(timeout=30)
        self._nspawn = None

    def stop(self) -> None:
        """End it whatever state it is in; remove the network namespace and the copy."""
        if self._nspawn is not None:
            with contextlib.suppress(RuntimeError):
                self.poweroff()
            self._kill()
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None
        if self._netns:
            subprocess.run(["ip", "link", "del", self._veth], check=False,
                           stderr=subprocess.DEVNULL)  # fmt: skip
            subprocess.run(["ip", "netns", "del", self.name], check=False)
            self._netns = False
        if self._shared_apt is not None:
            keep_downloads(self.apt_cache, self._shared_apt)
            self._shared_apt = None
        if os.environ.get("SHIPYARD_TEST_KEEP") == "1":  # 1: keep the copy to look at
            print(f"kept {self.root} (a tmpfs: umount it, then remove {self.dir})")
            return
        if self._tmpfs:
            subprocess.run(["umount", str(self.root)], check=False)
            self._tmpfs = False
        mounted = [line for line in Path("/proc/mounts").read_text().splitlines()
                   if f" {self.root}" in line]  # fmt: skip
        if mounted:  # never remove through a mount
            raise RuntimeError(f"still mounted in {self.root}: {mounted}")
        shutil.rmtree(self.dir, ignore_errors=True)
