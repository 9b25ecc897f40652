"""Describing a host: `resources` (CPU, load, memory, disks, slots' processes) and
`facts` (OS, Python, nginx, packages, Shipyard, active release). Both only read.
Requests and replies: `shipyard.protocol.resources`."""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from shipyard import __version__
from shipyard.host import procfs
from shipyard.host import slots as slot_files
from shipyard.host.context import Context
from shipyard.host.operations.handler import Handler
from shipyard.plan.layout import SLOTS, program_name
from shipyard.protocol import resources as proto

MAX_SAMPLE_SECONDS = 5.0
COMMAND_TIMEOUT = 10.0


def _disks(wanted: list[str]) -> list[proto.DiskUsage]:
    mounts = procfs.parse_mounts(procfs.read_text(procfs.PROC / "mounts") or "")
    if wanted:
        by_mount = {m.mount: m for m in mounts}
        mounts = [by_mount.get(path, procfs.Mount("", path, "")) for path in wanted]
    result = []
    for mount in mounts:
        try:
            st = os.statvfs(mount.mount)
        except OSError:
            continue  # unmounted meanwhile, or not ours to read
        if st.f_blocks == 0:
            continue
        total = st.f_blocks * st.f_frsize
        result.append(
            proto.DiskUsage(
                mount=mount.mount,
                device=mount.device,
                fstype=mount.fstype,
                total=total,
                used=total - st.f_bfree * st.f_frsize,
                free=st.f_bavail * st.f_frsize,
            )
        )
    return result


def _slot_programs(ctx: Context) -> list[tuple[str, str, int]]:
    """(slot, program, pid) of every running program of the environment's slots."""
    if ctx.read_state() is None or not ctx.supervisor.is_running():
        return []
    found = []
    for slot in SLOTS:
        names = [program_name(slot_files.WEB, slot)]
        names += [program_name(w, slot) for w in slot_files.workers_of(ctx.layout, slot)]
        for name in names:
            info = ctx.supervisor.info(name)
            if info and info.get("statename") == "RUNNING" and int(info.get("pid") or 0) > 0:
                found.append((slot, name, int(info["pid"])))
    return found


def resources(ctx: Context, request: proto.ResourcesRequest) -> proto.ResourcesReply:
    programs = _slot_programs(ctx)
    sample = min(max(request.sample_seconds, 0.0), MAX_SAMPLE_SECONDS)
    before_cpu = procfs.parse_cpu(procfs.read_text(procfs.PROC / "stat") or "")
    before = procfs.all_processes() if programs else {}
    if sample > 0:
        time.sleep(sample)
    after_cpu = procfs.parse_cpu(procfs.read_text(procfs.PROC / "stat") or "")
    after = procfs.all_processes() if programs else {}
    page, hz = procfs.page_size(), procfs.clock_ticks()

    state = ctx.read_state()
    rows = state.slots() if state else {}
    active = state.get_meta("active_slot") if state else None
    usage: dict[str, list[proto.ProcessUsage]] = {slot: [] for slot in SLOTS}
    for slot, name, pid in programs:
        members = procfs.tree(pid, after)
        if not members:
            continue
        cpu = None
        if sample > 0:
            ticks = sum(p.ticks - (before[p.pid].ticks if p.pid in before else 0) for p in members)
            cpu = round(100.0 * ticks / hz / sample, 2)
        usage[slot].append(
            proto.ProcessUsage(
                program=name,
                pid=pid,
                processes=len(members),
                rss_bytes=sum(p.rss_pages for p in members) * page,
                cpu_pct=cpu,
            )
        )
    slots = [
        proto.SlotUsage(
            slot=slot,
            release_id=rows[slot].release_id if slot in rows else None,
            active=slot == active,
            programs=usage[slot],
        )
        for slot in SLOTS
        if state is not None
    ]
    memory = procfs.parse_meminfo(procfs.read_text(procfs.PROC / "meminfo") or "")
    total = memory.get("MemTotal", 0)
    available = memory.get("MemAvailable", memory.get("MemFree", 0))
    load1, load5, load15 = os.getloadavg()
    uptime = (procfs.read_text(procfs.PROC / "uptime") or "0").split()[0]
    return proto.ResourcesReply(
        at=time.time(),
        cpu_count=os.cpu_count() or 1,
        cpu_pct=procfs.busy_pct(before_cpu, after_cpu) if sample > 0 else None,
        cpu_ticks_total=after_cpu.total,
        cpu_ticks_idle=after_cpu.idle,
        load1=round(load1, 2),
        load5=round(load5, 2),
        load15=round(load15, 2),
        mem_total=total,
        mem_available=available,
        mem_used=total - available,
        swap_total=memory.get("SwapTotal", 0),
        swap_used=memory.get("SwapTotal", 0) - memory.get("SwapFree", 0),
        uptime_seconds=float(uptime),
        disks=_disks(request.mounts),
        slots=slots,
    )


def parse_os_release(text: str) -> dict[str, str]:
    result = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            result[key.strip()] = value.strip().strip('"').strip("'")
    return result


NGINX_VERSION = re.compile(r"nginx/(\S+)")


def _nginx_version(binary: str) -> str | None:
    path = shutil.which(binary) or (binary if Path(binary).is_file() else None)
    if path is None:
        return None
    try:
        result = subprocess.run(
            [path, "-v"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = NGINX_VERSION.search(result.stderr + result.stdout)
    return found.group(1) if found else None


def _package_versions(packages: list[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = dict.fromkeys(packages)
    if not packages or shutil.which("dpkg-query") is None:
        return versions
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Status}\t${Version}\n", *packages],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return versions
    for line in result.stdout.splitlines():
        name, _, rest = line.partition("\t")
        status, _, version = rest.partition("\t")
        name = name.split(":")[0]  # libfoo:amd64
        if name in versions and status == "installed" and version:
            versions[name] = version
    return versions


def facts(ctx: Context, request: proto.FactsRequest) -> proto.FactsReply:
    release = parse_os_release(procfs.read_text(Path("/etc/os-release")) or "")
    state = ctx.read_state()
    uname = platform.uname()
    return proto.FactsReply(
        hostname=socket.gethostname(),
        os_id=release.get("ID", ""),
        os_version=release.get("VERSION_ID", ""),
        os_name=release.get("PRETTY_NAME", ""),
        kernel=uname.release,
        architecture=uname.machine,
        python=sys.version.split()[0],
        shipyard=__version__,
        nginx=_nginx_version(request.nginx_binary),
        packages=_package_versions(request.packages),
        active_release=state.get_meta("active_release") if state else None,
        active_slot=state.get_meta("active_slot") if state else None,
    )


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.RESOURCES, resources),
    Handler(proto.FACTS, facts),
]
