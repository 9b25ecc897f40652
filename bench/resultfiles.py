"""Stored benchmark results: how they are named, written and read back.

Every result is the evidence behind figures quoted in docs/benchmarks*.md, so a new run
never replaces an earlier one. A result is written once, as

    bench/results/<benchmark>[-<variant>]-<commit12>-<UTCstamp>.json

and records, inside, `benchmark`, `variant`, `date` (UTC, ISO 8601) and `machine`
(`machine.shipyard` is the commit measured). Files stored before this naming (no `date`
inside) are *legacy*: they stay where they are, listed in bench/results/legacy.json with
what git knows about them (the commit that stored them, and when).

This module imports nothing from Shipyard or benchlib: bench/regen.py and the unit tests
read results without pinning a snapshot.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
LEGACY_INDEX = RESULTS / "legacy.json"
STAMP_FORMAT = "%Y%m%dT%H%M%S"
NAME = re.compile(
    r"^(?P<key>[a-z_]+(?:-[a-z0-9]+)*)-(?P<commit>[0-9a-f]{12})-(?P<stamp>\d{8}T\d{6})\.json$"
)


def result_name(benchmark: str, variant: str | None, commit: str, stamp: str) -> str:
    key = f"{benchmark}-{variant}" if variant else benchmark
    return f"{key}-{commit[:12]}-{stamp}.json"


def store_result(
    benchmark: str,
    result: dict[str, Any],
    *,
    variant: str | None = None,
    directory: Path = RESULTS,
    out: str | None = None,
) -> Path:
    """Write `result` as a new file (never over an existing one); return its path.

    `result["machine"]["shipyard"]` must name the commit measured (benchlib.machine()).
    `benchmark`, `variant` and `date` are put first in the file. `out` (a script's
    `--json-out`) writes to that path instead, but still never over an existing file.
    """
    commit = str(result["machine"]["shipyard"]).split()[-1]
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        commit = "0" * 12  # a working-tree run: the label inside says what it was
    now = time.gmtime()
    record = {
        "benchmark": benchmark,
        "variant": variant,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", now),
        "bench_scripts": BENCH_AT_START,
        **{k: v for k, v in result.items() if k not in record_fields()},
    }
    path = (
        Path(out)
        if out
        else directory / result_name(benchmark, variant, commit, time.strftime(STAMP_FORMAT, now))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x") as handle:  # FileExistsError rather than overwrite evidence
        handle.write(json.dumps(record, indent=2) + "\n")
    return path


def record_fields() -> tuple[str, ...]:
    return ("benchmark", "variant", "date", "bench_scripts")


def bench_label() -> str:
    """The commit of bench/ itself (scripts run from the working tree, not the snapshot)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
        return done.stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "bench/*.py")
    return git("rev-parse", "HEAD") + (" with uncommitted bench/ changes" if dirty else "")


@dataclass(frozen=True)
class Stored:
    """One stored result file and where its provenance comes from."""

    path: Path
    key: str  # benchmark[-variant], what a doc section asks for
    commit: str  # 40 hex digits
    date: str  # ISO 8601; for legacy files the date git stored them (see `legacy`)
    legacy: bool
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def short(self) -> str:
        return self.commit[:12]

    @property
    def day(self) -> str:
        return self.date[:16].replace("T", " ")


def load_all(directory: Path = RESULTS) -> list[Stored]:
    """Every stored result, oldest first. Legacy files come with their index entry."""
    legacy = (
        json.loads((directory / LEGACY_INDEX.name).read_text())
        if (directory / LEGACY_INDEX.name).exists()
        else {}
    )
    stored = []
    for path in sorted(directory.glob("*.json")):
        if path.name == LEGACY_INDEX.name:
            continue
        data = json.loads(path.read_text())
        commit = str(data.get("machine", {}).get("shipyard", "")).split()[-1]
        match = NAME.match(path.name)
        if path.name in legacy:
            entry = legacy[path.name]
            stored.append(Stored(path, entry["key"], commit, entry["stored_at"], True, data))
        elif match and "date" in data:
            stored.append(Stored(path, match["key"], commit, data["date"], False, data))
        else:
            raise ValueError(f"{path}: not named <benchmark>-<commit>-<stamp> and not in legacy")
    return sorted(stored, key=lambda s: (s.date, s.name))


def latest(stored: list[Stored], key: str, *, legacy: bool | None = None) -> list[Stored]:
    """The results for `key`, newest first (optionally only legacy or only new ones)."""
    chosen = [s for s in stored if s.key == key and (legacy is None or s.legacy == legacy)]
    return sorted(chosen, key=lambda s: (s.date, s.name), reverse=True)


BENCH_AT_START = bench_label()  # when the benchmark started (its modules are loaded then)


def facts(shipyard: str) -> dict[str, Any]:
    """The `machine` record for a script that does not import benchlib (which pins a
    snapshot): `shipyard` names the commit measured (a 40-hex sha last)."""
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "shipyard": shipyard,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "nginx": nginx.stderr.strip(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
