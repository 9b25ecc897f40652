"""Disk-full forecasts, memory alerts, costs and /proc parsing, from known inputs."""

from __future__ import annotations

import pytest

from shipyard.host.operations.resources import parse_os_release
from shipyard.host.procfs import (
    CpuTicks,
    ProcStat,
    busy_pct,
    parse_cpu,
    parse_meminfo,
    parse_mounts,
    parse_pid_stat,
    tree,
)
from shipyard.plan.capacity import HostLoad, environment_cost
from shipyard.plan.forecast import (
    DAY,
    DiskPoint,
    MemoryPoint,
    SampleView,
    disk_alerts,
    disk_forecast,
    disk_series,
    memory_alerts,
    memory_series,
)

GIB = 2**30


def growing(per_day: float, free_now: float, days: int = 4) -> list[DiskPoint]:
    """Daily samples of a 100 GiB disk growing `per_day` GiB, ending with `free_now`."""
    points = []
    for day in range(days):
        free = free_now + per_day * (days - 1 - day)
        points.append(DiskPoint(day * DAY, int((100 - free) * GIB), 100 * GIB, int(free * GIB)))
    return points


def test_a_disk_growing_two_gib_a_day_with_ten_free_is_full_in_five_days() -> None:
    forecast = disk_forecast("web1", "/", growing(2, 10))
    assert forecast is not None
    assert forecast.rate_per_day == pytest.approx(2 * GIB)
    assert forecast.days_left == pytest.approx(5)
    alerts = disk_alerts("production", {("web1", "/"): growing(2, 10)}, within_days=7)
    assert [a.key for a in alerts] == ["disk:production:web1:/"]
    assert "full in 5.0 days" in alerts[0].subject
    assert disk_alerts("production", {("web1", "/"): growing(2, 10)}, within_days=3) == []


def test_a_shrinking_or_flat_disk_never_alerts() -> None:
    assert disk_forecast("web1", "/", growing(-1, 10)).days_left is None  # type: ignore[union-attr]
    assert disk_forecast("web1", "/", growing(0, 1)).days_left is None  # type: ignore[union-attr]


def test_samples_spanning_less_than_the_minimum_give_no_rate() -> None:
    minute = [DiskPoint(0, 0, 100, 100), DiskPoint(60, 50, 100, 50)]
    forecast = disk_forecast("web1", "/", minute)
    assert forecast is not None and forecast.days_left is None
    assert disk_alerts("e", {("web1", "/"): minute}, within_days=30) == []


def test_memory_alerts_only_when_every_sample_of_the_duration_is_over_the_threshold() -> None:
    high = [MemoryPoint(t, 95, 100) for t in (0, 300, 600, 900)]
    dipped = [*high[:2], MemoryPoint(600, 50, 100), high[3]]
    too_short = high[2:]
    alerts = memory_alerts(
        "production",
        {"web1": high, "web2": dipped, "web3": too_short},
        threshold=0.9,
        duration=600,
        now=900,
    )
    assert [a.host for a in alerts] == ["web1"]
    assert alerts[0].kind == "memory-high"


def test_idle_capacity_prices_what_the_busier_resource_leaves_unused() -> None:
    cost = environment_cost(
        "production",
        ["web1", "web2", "web3"],
        {"web1": 20.0, "web2": 10.0},
        {"web1": HostLoad("web1", 0.25, 0.40), "web3": HostLoad("web3", 0.5, 0.5)},
    )
    assert cost.monthly == 30.0
    assert cost.idle_monthly == 12.0  # web1: 20 * (1 - 0.40); web2 has no samples
    assert cost.unpriced == ["web3"]
    assert [h.busy_share for h in cost.hosts] == [0.40, None, 0.5]


def test_proc_parsers_read_the_kernels_formats() -> None:
    before = parse_cpu("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    assert before == CpuTicks(total=1000, idle=800)
    assert busy_pct(before, CpuTicks(total=2000, idle=1300)) == 50.0
    memory = parse_meminfo("MemTotal:       2048 kB\nMemAvailable:   1024 kB\nHugePages_Total: 0\n")
    assert memory == {"MemTotal": 2 * 2**20, "MemAvailable": 2**20, "HugePages_Total": 0}
    mounts = parse_mounts(
        "/dev/sda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n"
        "/dev/sdb1 /mnt/my\\040data xfs rw 0 0\ntmpfs /run tmpfs rw 0 0\n"
    )
    assert [(m.mount, m.fstype) for m in mounts] == [("/", "ext4"), ("/mnt/my data", "xfs")]
    stat = parse_pid_stat(
        "42 (my (odd) app) S 7 " + " ".join(["0"] * 9) + " 30 12 " + "0 " * 8 + "500 0"
    )
    assert stat == ProcStat(pid=42, ppid=7, ticks=42, rss_pages=500)
    family = {
        p.pid: p
        for p in (
            ProcStat(1, 0, 0, 1),
            ProcStat(2, 1, 0, 1),
            ProcStat(3, 2, 0, 1),
            ProcStat(4, 0, 0, 1),
        )
    }
    assert sorted(p.pid for p in tree(1, family)) == [1, 2, 3]


def test_os_release_values_lose_their_quotes() -> None:
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    assert parse_os_release(text) == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "ID": "debian",
        "VERSION_ID": "12",
    }


def test_stored_samples_become_one_series_per_host_and_mount() -> None:
    disk = {"mount": "/", "total": 100, "used": 40, "free": 60}
    samples = [
        SampleView("web1", 0.0, 10, 100, [disk, {"mount": "/data", "total": 5}]),
        SampleView("web1", 60.0, 20, 100, [disk | {"used": 50, "free": 50}]),
        SampleView("web2", 0.0, None, None, []),
    ]
    assert disk_series(samples) == {
        ("web1", "/"): [DiskPoint(0.0, 40, 100, 60), DiskPoint(60.0, 50, 100, 50)]
    }
    assert memory_series(samples) == {
        "web1": [MemoryPoint(0.0, 10, 100), MemoryPoint(60.0, 20, 100)]
    }
