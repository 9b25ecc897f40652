"""Reading Linux's /proc and mounted filesystems: CPU counters, memory, load, mounts,
process trees. Parsers take the file's text so tests can give them known inputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# filesystems that hold no one's data: never reported as a disk
PSEUDO_FS = frozenset(
    {
        "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "pstore",
        "bpf", "tracefs", "debugfs", "securityfs", "mqueue", "hugetlbfs", "fusectl",
        "configfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs", "overlay", "squashfs",
        "ramfs", "efivarfs", "selinuxfs", "fuse.gvfsd-fuse", "fuse.portal", "nfsd",
    }
)  # fmt: skip


@dataclass(frozen=True)
class CpuTicks:
    total: int
    idle: int  # idle + iowait


def parse_cpu(stat_text: str) -> CpuTicks:
    """The aggregate `cpu` line of /proc/stat."""
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            # user nice system idle iowait irq softirq steal (guest is inside user)
            total = sum(values[:8])
            idle = values[3] + (values[4] if len(values) > 4 else 0)
            return CpuTicks(total=total, idle=idle)
    raise ValueError("/proc/stat has no cpu line")


def busy_pct(before: CpuTicks, after: CpuTicks) -> float:
    """Share of all CPUs busy between two readings, 0-100."""
    total = after.total - before.total
    if total <= 0:
        return 0.0
    return round(100.0 * (total - (after.idle - before.idle)) / total, 2)


def parse_meminfo(text: str) -> dict[str, int]:
    """/proc/meminfo as bytes by field name."""
    result = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            factor = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            result[name.strip()] = int(parts[0]) * factor
    return result


@dataclass(frozen=True)
class Mount:
    device: str
    mount: str
    fstype: str


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mounts(text: str) -> list[Mount]:
    """Real filesystems from /proc/mounts, each mount point once (the last mount wins)."""
    found: dict[str, Mount] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] in PSEUDO_FS:
            continue
        mount = Mount(_unescape(fields[0]), _unescape(fields[1]), fields[2])
        found[mount.mount] = mount
    return list(found.values())


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    ticks: int  # utime + stime
    rss_pages: int


def parse_pid_stat(text: str) -> ProcStat:
    """/proc/PID/stat; the command name (field 2) may contain spaces and parentheses."""
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    # fields[0] is state (field 3); ppid is field 4, utime 14, stime 15, rss 24
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        ticks=int(fields[11]) + int(fields[12]),
        rss_pages=int(fields[21]),
    )


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def all_processes() -> dict[int, ProcStat]:
    result = {}
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            text = read_text(PROC / entry.name / "stat")
            if text is not None:
                result[int(entry.name)] = parse_pid_stat(text)
    return result


def tree(root: int, processes: dict[int, ProcStat]) -> list[ProcStat]:
    """`root` and all its descendants among `processes`."""
    children: dict[int, list[int]] = {}
    for proc in processes.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    result, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in processes:
            result.append(processes[pid])
            todo.extend(children.get(pid, []))
    return result


def page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")
