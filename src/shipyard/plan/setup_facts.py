"""What setup learns about a host before it changes anything, and whether it refuses.

The probe is one short shell command (`PROBE`) run over Shipyard's own SSH transport
(strict host keys); `parse_facts` reads its output and `refusal` decides. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_PYTHON = (3, 11)
DEBIAN_LIKE = frozenset({"debian", "ubuntu"})

# POSIX sh: no bashism, nothing written; every line is `key=value`
PROBE = (
    "if [ -r /etc/os-release ]; then . /etc/os-release; fi; "
    'echo "id=${ID:-}"; echo "like=${ID_LIKE:-}"; echo "version=${VERSION_ID:-}"; '
    'echo "pretty=${PRETTY_NAME:-}"; echo "machine=$(uname -m)"; '
    'echo "python=$(python3 -c \'import sys; print("%d.%d" % sys.version_info[:2])\' '
    '2>/dev/null)"; '
    "if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi; "
    'echo "uid=$(id -u)"; '
    "if command -v sudo >/dev/null 2>&1; then echo sudo=1; else echo sudo=0; fi"
)


@dataclass(frozen=True)
class HostFacts:
    """os_id/os_like: /etc/os-release ID and ID_LIKE; python: python3's (major, minor),
    None without one; systemd: systemd runs as init (units can be started now)."""

    os_id: str
    os_like: tuple[str, ...]
    os_version: str
    os_name: str
    machine: str
    python: tuple[int, int] | None
    systemd: bool
    is_root: bool
    has_sudo: bool

    @property
    def debian_like(self) -> bool:
        return self.os_id in DEBIAN_LIKE or bool(DEBIAN_LIKE & set(self.os_like))


def parse_facts(output: str) -> HostFacts:
    values: dict[str, str] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return HostFacts(
        os_id=values.get("id", "").lower(),
        os_like=tuple(values.get("like", "").lower().split()),
        os_version=values.get("version", ""),
        os_name=values.get("pretty", "") or values.get("id", "") or "unknown",
        machine=values.get("machine", "") or "unknown",
        python=_version(values.get("python", "")),
        systemd=values.get("systemd") == "1",
        is_root=values.get("uid") == "0",
        has_sudo=values.get("sudo") == "1",
    )


def _version(text: str) -> tuple[int, int] | None:
    major, _, minor = text.partition(".")
    if major.isdigit() and minor.isdigit():
        return int(major), int(minor)
    return None


def refusal(facts: HostFacts) -> tuple[str, str] | None:
    """(what, what to do) when setup must not touch this host; None when it may."""
    if not facts.debian_like:
        return (
            f"{facts.os_name} is not Debian-like (ID={facts.os_id or 'none'}); setup knows "
            "only apt-based systems",
            "use Debian 12 or Ubuntu 24.04, or prepare this server by hand "
            "(docs/installing.md#on-servers)",
        )
    if facts.python is None:
        return (
            "python3 is not installed",
            "install Python 3.11 or newer (apt-get install python3), or use Debian 12 / "
            "Ubuntu 24.04, which have it",
        )
    if facts.python < MIN_PYTHON:
        have = f"{facts.python[0]}.{facts.python[1]}"
        return (
            f"python3 is {have}; Shipyard needs 3.11 or newer",
            "use Debian 12 or Ubuntu 24.04 (Python 3.11 / 3.12), or upgrade the release",
        )
    if not facts.is_root and not facts.has_sudo:
        return (
            "the setup user is not root and sudo is not installed",
            "connect as root (`setup.user: root`) or as a user with passwordless sudo",
        )
    return None
