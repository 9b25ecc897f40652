"""Who holds a TCP address: the listening sockets of /proc/net/tcp{,6} and their processes.

Used when nginx cannot bind its `listen` address, so the error can name what holds it
(`ss -ltnp` shows the same, but ss is not on every host and needs parsing anyway).
Reading another user's /proc/PID/fd needs root: then the holder is reported as unseen.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket: its local address, port and socket inode."""

    address: str  # "127.0.0.1", "::", ...
    port: int
    inode: int


@dataclass(frozen=True)
class Holder:
    """A process that has a listening socket open."""

    pid: int
    command: str  # its command line, or its name when the command line is empty
    user: str  # a user name, or the numeric uid


@dataclass(frozen=True)
class AddressUse:
    """What was found holding an address: the sockets, and the processes seen with them.

    `unseen` counts sockets whose process could not be found (another user's, without root).
    """

    listeners: tuple[Listener, ...]
    holders: tuple[Holder, ...]
    unseen: int


def parse_proc_net_tcp(text: str, ipv6: bool) -> list[Listener]:
    """The listening sockets in the text of /proc/net/tcp (or tcp6 when `ipv6`)."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        address_hex, _, port_hex = fields[1].partition(":")
        try:
            address = _address(address_hex, ipv6)
            found.append(Listener(address, int(port_hex, 16), int(fields[9])))
        except ValueError:
            continue
    return found


def _address(hex_text: str, ipv6: bool) -> str:
    """/proc/net/tcp writes addresses as 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_text)
    if len(raw) != (16 if ipv6 else 4):
        raise ValueError(hex_text)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(swapped)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def conflicts(listener: Listener, address: str, port: int) -> bool:
    """Would binding `address`:`port` fail because of `listener`?

    A wildcard (0.0.0.0 or ::) on either side clashes with any address of the same port.
    """
    if listener.port != port:
        return False
    wildcards = {"0.0.0.0", "::"}  # noqa: S104 - compared, not bound
    return listener.address == address or listener.address in wildcards or address in wildcards


def split_listen(listen: str) -> tuple[str, int] | None:
    """`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:80` or `8080` -> (address, port)."""
    text = listen.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "0.0.0.0", text  # noqa: S104 - nginx's meaning of a bare port
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104
    if host in ("*", "localhost"):
        host = "0.0.0.0" if host == "*" else "127.0.0.1"  # noqa: S104
    try:
        return str(ipaddress.ip_address(host)), int(port_text)
    except ValueError:
        return None


def address_use(address: str, port: int, proc: Path = Path("/proc")) -> AddressUse:
    """The listening sockets that keep `address`:`port` from being bound, and their owners."""
    listeners: list[Listener] = []
    for name, ipv6 in (("tcp", False), ("tcp6", True)):
        try:
            text = (proc / "net" / name).read_text()
        except OSError:
            continue
        found = parse_proc_net_tcp(text, ipv6)
        listeners += [item for item in found if conflicts(item, address, port)]
    wanted = {f"socket:[{item.inode}]": item.inode for item in listeners}
    holders: dict[int, Holder] = {}
    seen_inodes: set[int] = set()
    if wanted:
        for pid_dir in proc.iterdir():
            if not pid_dir.name.isdigit():
                continue
            inodes = _socket_inodes(pid_dir, wanted)
            if inodes:
                seen_inodes |= inodes
                holders[int(pid_dir.name)] = _holder(pid_dir)
    unseen = len({item.inode for item in listeners} - seen_inodes)
    return AddressUse(tuple(listeners), tuple(holders[pid] for pid in sorted(holders)), unseen)


def _socket_inodes(pid_dir: Path, wanted: dict[str, int]) -> set[int]:
    found = set()
    try:
        for fd in os.scandir(pid_dir / "fd"):
            try:
                target = os.readlink(fd.path)
            except OSError:
                continue
            if target in wanted:
                found.add(wanted[target])
    except OSError:  # gone, or another user's process without root
        return set()
    return found


def _holder(pid_dir: Path) -> Holder:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        raw = b""
    command = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    if not command:
        try:
            command = f"[{(pid_dir / 'comm').read_text().strip()}]"
        except OSError:
            command = "?"
    return Holder(int(pid_dir.name), command[:200], _user(pid_dir))


def _user(pid_dir: Path) -> str:
    try:
        uid = pid_dir.stat().st_uid
    except OSError:
        return "?"
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
