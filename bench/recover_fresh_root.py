"""`shipyard recover` onto a fresh root (issue 11): the RTO from a server with only sshd
and root's key to serving, and each step's share (setup above all).

The scenario is tests/support/lostserver.py's, as tests/integration/
test_recover_fresh_root.py runs it: the example app deployed to an SSH test host
(127.0.0.143) with a real PostgreSQL database of about `--mb` MiB (bench/backup.py's
table) and three uploaded files, backed up to S3 (moto's server on loopback); that
server lost (its environment removed, its sshd stopped, the database dropped and created
again empty); shipyard.yml pointed at a fresh debootstrap root (tests/support/
fresh_root.py, an sshd in a chroot on 127.0.0.43) in the settings of a host that setup
makes. Then `pipeline.recover` (what the command runs) is timed until it returns: the
new host set up, the release rebuilt and deployed, every source verified and restored,
the release answering through nginx. Every row and file is then checked.

The apt archives and the wheelhouse are the machine's caches (what an earlier setup left),
so the setup step's figure is a warm one; bench/setup.py measures a cold setup.

Like bench/setup.py, this measures the working tree (setup ships a wheel built from the
checkout): commit first, the result records "worktree at <HEAD>".
Writes a NEW file bench/results/recover_fresh_root-<commit12>-<UTCstamp>.json.

    .venv/bin/python bench/recover_fresh_root.py --mb 64
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("SHIPYARD_BENCH_REF", "worktree")  # see the docstring

import httpx
from benchlib import RecordingReporter, fmt, machine, table
from pin import source_root
from resultfiles import store_result

from shipyard.config.backup_schedule import BackupSchedule
from shipyard.config.loader import ConfigFile
from shipyard.execute import pipeline
from shipyard.plan import schedule
from shipyard.plan.recover import shares

sys.path.insert(0, str(source_root() / "tests"))
from backup import fill  # bench/backup.py: the same table
from support.lostserver import ENV, UPLOADS, lost_server

CHECKS = [
    {"source": "db", "sql": "SELECT count(*) > 0 FROM orders", "expect": "t"},
    {"source": "uploads", "min_files": len(UPLOADS)},
]


def run(mb: int) -> dict[str, Any]:
    with lost_server(
        database="bench",
        seed=lambda pg, _database: fill(pg, mb),
        checks=CHECKS,
        pg_settings="-c shared_buffers=128MB -c max_wal_size=4GB",
    ) as lost:
        assert isinstance(lost.seeded, dict)  # what fill returned: rows, sizes
        data: dict[str, Any] = lost.seeded
        lost.point_at_new_server()
        os.environ.update(lost.secrets)  # the configured secrets come from_env
        config = ConfigFile.load(lost.repo.config)
        runtime = pipeline.Runtime(reporter=RecordingReporter(echo=True))
        started = time.monotonic()
        result = asyncio.run(pipeline.recover(config, ENV, runtime, to=lost.new_host))
        rto = round(time.monotonic() - started, 2)
        response = httpx.get(f"{lost.url}/healthz", timeout=10)
        rows = int(lost.pg.psql("bench", "SELECT count(*) FROM orders"))
        uploads = sorted(p.name for p in (lost.shared() / "uploads").iterdir())
        serving = lost.serving()
        dump = next(b for b in lost.backups if b["source"] == "db")
        backup_s = lost.backup_s
        same_release = serving == (lost.release, lost.digest)
    every = BackupSchedule().every
    return {
        **data,
        "dump_bytes": dump["size_bytes"],
        "backup_s": backup_s,
        "rto_s": rto,
        "recover_steps_s": result.steps,
        "recover_step_shares_pct": shares(result.steps),
        "release_from": result.release_from,
        "same_release_and_digest": same_release,
        "serving_after": response.status_code,
        "rows_after_recover": rows,
        "restored_all_rows": rows == data["rows"],
        "restored_all_uploads": uploads == list(UPLOADS),
        "default_schedule_every_s": every,
        "rpo_default_schedule_s": schedule.rpo(BackupSchedule(), backup_s),
    }


def measured_machine() -> dict[str, Any]:
    """benchlib.machine(), naming the commit itself when the working tree's src/,
    examples/ and tests/support/ (the scenario) are that commit's (as bench/setup.py)."""
    facts = machine()
    label = str(facts["shipyard"])
    scenario = subprocess.run(
        ["git", "-C", str(source_root()), "status", "--porcelain", "--", "tests/support"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if label.startswith("worktree at ") and "uncommitted" not in label and not scenario:
        facts["shipyard"] = label.split()[-1]
        facts["source"] = label + " (src/, examples/ and tests/support/ clean: the commit)"
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64, help="database size to aim for (MiB)")
    args = parser.parse_args()
    started = time.time()
    result = {
        "machine": measured_machine(),
        "target_mb": args.mb,
        "result": run(args.mb),
        "wall_s": round(time.time() - started, 1),
    }
    out = store_result("recover_fresh_root", result)
    r = result["result"]
    print(f"database {r['database_bytes'] / 2**20:.0f} MiB, {r['rows']} rows")
    print(
        table(
            ["step", "seconds", "share"],
            [
                [step, fmt(seconds), f"{r['recover_step_shares_pct'][step]:.0f}%"]
                for step, seconds in r["recover_steps_s"].items()
            ]
            + [["RTO (recover, fresh root to serving)", fmt(r["rto_s"]), "100%"]],
        )
    )
    print(
        f"all rows back: {r['restored_all_rows']}, all uploads: {r['restored_all_uploads']}, "
        f"same release and sha256: {r['same_release_and_digest']}"
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
