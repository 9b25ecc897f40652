"""Room on the host: refuse a deploy up front instead of failing half-way."""

from __future__ import annotations

import shutil
from pathlib import Path

from shipyard.host.errors import HostOpError

MB = 1024 * 1024


def check_disk(path: Path, artifact_bytes: int, per_artifact: float, min_free_mb: int) -> None:
    """The artifact, its unpacked tree and its build must fit, with a margin left over."""
    free = shutil.disk_usage(path).free
    need = max(int(artifact_bytes * per_artifact), 0) + min_free_mb * MB
    if free < need:
        raise HostOpError(
            f"not enough free disk under {path}: {free // MB} MB free, this release needs "
            f"{need // MB} MB (artifact {artifact_bytes // MB} MB x {per_artifact:g} "
            f"+ {min_free_mb} MB reserve)",
            hint="free some space (old releases, logs) or lower resources.min_free_disk_mb",
        )


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def rss_of(pid: int) -> int:
    """Resident memory of a process and its direct children (a server and its workers)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def check_memory(active_pid: int | None, min_free_mb: int) -> None:
    """A second slot must fit next to the first: about as much again as the active one uses."""
    available = available_memory()
    if available is None:
        return
    need = (rss_of(active_pid) if active_pid else 0) + min_free_mb * MB
    if available < need:
        raise HostOpError(
            f"not enough free memory to boot a second slot: {available // MB} MB available, "
            f"need {need // MB} MB (the active slot uses {(need - min_free_mb * MB) // MB} MB "
            f"+ {min_free_mb} MB reserve)",
            hint="add memory or swap, stop other services, or lower resources.min_free_memory_mb",
        )
