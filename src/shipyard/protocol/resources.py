"""Operations that describe a host rather than change it: `resources` (CPU, load,
memory, disks, each slot's processes) for `shipyard serve`'s sampler, and `facts` (OS,
Python, nginx, packages, Shipyard, the active release) for `shipyard parity`."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.protocol.op import Op


@dataclass(frozen=True)
class ResourcesRequest:
    """sample_seconds: CPU shares are measured over this interval (0: skip them; the
    reply then carries only the cumulative counters). mounts: the mount points to report
    (empty: every mounted local filesystem, pseudo filesystems left out)."""

    sample_seconds: float
    mounts: list[str]


@dataclass(frozen=True)
class DiskUsage:
    """One mounted filesystem, from statvfs (bytes; `free` as a non-root user sees it)."""

    mount: str
    device: str
    fstype: str
    total: int
    used: int
    free: int


@dataclass(frozen=True)
class ProcessUsage:
    """One supervisord program of a slot (its process and all its descendants)."""

    program: str  # web-blue, worker-green...
    pid: int
    processes: int  # how many processes the tree has
    rss_bytes: int
    cpu_pct: float | None  # of one CPU, over the sample; None when not sampled


@dataclass(frozen=True)
class SlotUsage:
    slot: str
    release_id: str | None
    active: bool
    programs: list[ProcessUsage]  # running programs only


@dataclass(frozen=True)
class ResourcesReply:
    at: float  # unix time the sample ended
    cpu_count: int
    cpu_pct: float | None  # all CPUs busy over the sample, 0-100; None when not sampled
    cpu_ticks_total: int  # cumulative /proc/stat counters, for a sampler that diffs
    cpu_ticks_idle: int
    load1: float
    load5: float
    load15: float
    mem_total: int  # bytes
    mem_available: int
    mem_used: int  # total - available
    swap_total: int
    swap_used: int
    uptime_seconds: float
    disks: list[DiskUsage]
    slots: list[SlotUsage]  # empty on a host this environment was never deployed to


RESOURCES = Op("resources", ResourcesRequest, ResourcesReply)


@dataclass(frozen=True)
class FactsRequest:
    """nginx_binary: the environment's nginx (config `nginx.binary`). packages: the Debian
    packages to report the installed version of (plan/host_packages.py)."""

    nginx_binary: str
    packages: list[str]


@dataclass(frozen=True)
class FactsReply:
    hostname: str
    os_id: str  # /etc/os-release ID (debian, ubuntu...), "" when unknown
    os_version: str  # VERSION_ID
    os_name: str  # PRETTY_NAME
    kernel: str
    architecture: str
    python: str  # the agent's interpreter
    shipyard: str  # the agent's Shipyard version
    nginx: str | None  # `nginx -v`; None: not installed at that path
    packages: dict[str, str | None]  # package -> installed version (None: not installed)
    active_release: str | None
    active_slot: str | None


FACTS = Op("facts", FactsRequest, FactsReply)
