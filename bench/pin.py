"""Run a benchmark against one commit of Shipyard, not against the working tree.

Other people edit src/ while a benchmark runs. Shipyard starts fresh Python processes
on the hosts during a run, so a half-finished edit is picked up mid-run (it happened:
a deploy failed with a KeyError for a request field the already-running operator side
did not send yet), and figures would describe no commit at all.

So by default a benchmark re-executes itself once with PYTHONPATH pointing at
`git archive <ref>` of src/, examples/ and tests/support/, unpacked under
/tmp/sybench/src-<commit>. Host processes inherit PYTHONPATH (locally) or get it from
`shipyard_command` (SSH hosts, see `shipyard_command()`).

    SHIPYARD_BENCH_REF=<commit-ish>   pin another commit (default HEAD)
    SHIPYARD_BENCH_REF=worktree       use the working tree as it is
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = Path("/tmp/sybench")
PATHS = ("src", "examples", "tests/support")
_SNAPSHOT_VAR = "SHIPYARD_BENCH_SNAPSHOT"
_COMMIT_VAR = "SHIPYARD_BENCH_COMMIT"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def snapshot(commit: str) -> Path:
    """src/, examples/ and tests/support/ of `commit`, unpacked once under /tmp/sybench."""
    target = SNAPSHOTS / f"src-{commit[:12]}"
    if (target / ".complete").exists():
        return target
    tmp = SNAPSHOTS / f".src-{commit[:12]}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    present = _git("ls-tree", "--name-only", commit, "--", *PATHS).split()
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit, *present],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
    (tmp / ".complete").write_text(commit + "\n")
    tmp.chmod(0o755)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def pin() -> None:
    """Re-execute this process on a snapshot of SHIPYARD_BENCH_REF (once)."""
    ref = os.environ.get("SHIPYARD_BENCH_REF", "HEAD")
    if ref == "worktree" or os.environ.get(_SNAPSHOT_VAR):
        return
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    root = snapshot(commit)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(root / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env[_SNAPSHOT_VAR] = str(root)
    env[_COMMIT_VAR] = commit
    print(f"[bench] Shipyard at commit {commit[:12]} (snapshot {root})", flush=True)
    os.execve(sys.executable, [sys.executable, *sys.argv], env)


def source_root() -> Path:
    """Where src/, examples/ and tests/support/ come from for this run."""
    return Path(os.environ.get(_SNAPSHOT_VAR) or REPO_ROOT)


def source_label() -> str:
    """The commit measured, or the working tree (with HEAD and whether src/ is edited)."""
    commit = os.environ.get(_COMMIT_VAR)
    if commit:
        return commit
    head = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "src", "examples"))
    return f"worktree at {head}" + (" with uncommitted changes" if dirty else "")


def shipyard_command() -> str:
    """`shipyard_command` for SSH test hosts (this machine): the same source as here."""
    python = sys.executable
    snap = os.environ.get(_SNAPSHOT_VAR)
    if snap:
        return f"env PYTHONPATH={snap}/src {python} -m shipyard"
    return str(Path(python).with_name("shipyard"))
