"""What start-up is made of: the CPU seconds of importing each layer, side by side.

Each statement runs as a fresh `python -c STATEMENT` on one side's source (compiled
`.pyc` files, as a wheel install has them), RUNS times, interleaved with the other side's,
and the CPU seconds (user + system) of the process are recorded: the part of a command's
start-up that each layer costs, and the floor that the third-party libraries alone set
(Python, typer with the pydantic it builds parameters with, rich's table, asyncio).

    .venv/bin/python bench/startup_imports.py --compare 7111fef --runs 15

Writes bench/results/startup_imports-<commit12>-<UTCstamp>.json (or --json-out).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

from benchlib import fmt, machine, median, table
from pin import snapshot, source_label, source_root
from resultfiles import store_result

# (what, the statement on the before side, on the after side)
LAYERS = [
    ("Python itself", "pass", "pass"),
    ("typer", "import typer", "import typer"),
    (
        "typer with pydantic (what parsing a command's parameters loads)",
        "import typer._adapters",
        "import typer._adapters",
    ),
    (
        "the third-party floor of `status`: typer, pydantic, rich's table, asyncio",
        "import typer._adapters, rich.table, asyncio",
        "import typer._adapters, rich.table, asyncio",
    ),
    ("the CLI app (`shipyard.cli.main`)", "import shipyard.cli.main", "import shipyard.cli.main"),
    (
        "the configuration models (`shipyard.config.model`)",
        "import shipyard.config.model",
        "import shipyard.config.model",
    ),
    (
        "what `status` imports to run (`shipyard.cli.views`)",
        "import shipyard.cli.views",
        "import shipyard.cli.views",
    ),
    (
        "what `rollback` imports to run (`execute.pipeline`; after: `rollback_flow`)",
        "import shipyard.execute.pipeline",
        "import shipyard.execute.rollback_flow",
    ),
]


def cpu_of(statement: str, src: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", statement], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", required=True, help="the commit to measure (before)")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{args.compare}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    sources = {"before": snapshot(commit) / "src", "after": source_root() / "src"}
    for src in sources.values():
        argv = [sys.executable, "-m", "compileall", "-q", "-x", "/examples/"]
        subprocess.run([*argv, str(src / "shipyard")], check=True, stdout=subprocess.DEVNULL)
    cpu: dict[str, dict[str, list[float]]] = {side: {} for side in sources}
    for run in range(args.runs):
        print(f"[startup_imports] run {run + 1}/{args.runs}", flush=True)
        for what, *statements in LAYERS:
            for (side, src), statement in zip(sources.items(), statements, strict=True):
                cpu[side].setdefault(what, []).append(round(cpu_of(statement, src), 4))
    medians = {
        side: {what: round(median(values), 4) for what, values in found.items()}
        for side, found in cpu.items()
    }
    result = {
        "machine": machine(),
        "runs": args.runs,
        "sides": {
            "before": {"commit": commit, "cpu": cpu["before"], "median": medians["before"]},
            "after": {"commit": source_label(), "cpu": cpu["after"], "median": medians["after"]},
        },
        "layers": [{"what": w, "before": b, "after": a} for w, b, a in LAYERS],
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    out = store_result("startup_imports", result, out=args.json_out)
    rows = [
        [what, fmt(medians["before"][what], 3), fmt(medians["after"][what], 3)]
        for what, *_ in LAYERS
    ]
    print(table(["median CPU seconds", "before", "after"], rows))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
