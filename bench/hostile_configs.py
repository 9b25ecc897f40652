"""Issue 8 item 12: how each hostile config ends, and how long it takes, before and after.

Each case is one file (and, for secrets, one secret file) checked in a fresh Python
process that imports Shipyard from SRC (a `git archive` of a commit, or the working
tree): `ConfigFile.load`, every environment, `resolve_secrets`, as `config check` does.
The child reports what it raised and the seconds the check took (in-process, so Python's
start-up is not counted) and its peak memory; a child still running after --timeout
seconds is killed and recorded as a hang; a child's address space is capped at 1 GiB
(--memory-mb) so a bomb on old code ends in MemoryError instead of taking the machine.

    .venv/bin/python bench/hostile_configs.py --ref 288100f   # before
    .venv/bin/python bench/hostile_configs.py                 # the working tree

Writes bench/results/hostile_configs[-before]-<commit12>-<time>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from resultfiles import facts, store_result  # noqa: E402

GOOD = "app: a\nstart: run\nenvironments:\n  e:\n    hosts: [local]\n"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from shipyard.config.loader import ConfigFile, resolve_secrets
path = Path(sys.argv[1])
started = time.perf_counter()
outcome = "accepted"
try:
    config = ConfigFile.load(path)
    for name in config.environment_names:
        resolve_secrets(config.environment(name), path)
except BaseException as exc:
    name = type(exc).__name__
    outcome = "exit 2" if name == "ConfigError" else "traceback: " + name
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps({"outcome": outcome, "seconds": round(seconds, 3), "peak_mb": peak}))
"""


def laughs(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels + 1):
        lines.append(f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]")
    return GOOD + "\n".join(lines) + "\n"


def cases(where: Path) -> dict[str, bytes]:
    os.mkfifo(where / "fifo")
    (where / "key.bin").write_bytes(b"\xff\xfe\x00\x01binary")
    hosts = ", ".join(f"u@h{n}" for n in range(100_000))
    return {
        "latin-1 file": b"app: a\nstart: caf\xe9\nenvironments: {e: {hosts: [local]}}\n",
        "UTF-16 file": GOOD.encode("utf-16"),
        "NUL in the file": GOOD.replace("run", "r\x00un").encode(),
        "app: 2020-13-45": GOOD.replace("app: a", "app: 2020-13-45").encode(),
        "!!int abc": GOOD.replace("start: run", "start: !!int abc").encode(),
        "!!bool maybe": GOOD.replace("start: run", "start: !!bool maybe").encode(),
        "5,000-digit number": GOOD.replace("start: run", "start: " + "9" * 5000).encode(),
        "a: &a [*a]": (GOOD + "x: &a [*a]\n").encode(),
        "billion laughs, 7 levels": laughs(7).encode(),
        "billion laughs, 9 levels": laughs(9).encode(),
        "from_file: /dev/zero": (GOOD + "secrets: {K: {from_file: /dev/zero}}\n").encode(),
        "from_file: a FIFO": (GOOD + f"secrets: {{K: {{from_file: {where / 'fifo'}}}}}\n").encode(),
        "binary from_file": (GOOD + "secrets: {K: {from_file: key.bin}}\n").encode(),
        "100,000 hosts": f"app: a\nstart: run\nenvironments:\n  e: {{hosts: [{hosts}]}}\n".encode(),
        "a 20 MB line": (GOOD + "x: " + "a" * 20_000_000 + "\n").encode(),
        "nesting 5,000 deep": (GOOD + "x: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    }


def source(ref: str | None, scratch: Path) -> Path:
    if ref is None:
        return ROOT / "src"
    archive = scratch / "src.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, "src"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(scratch / "tree", filter="data")
    return scratch / "tree" / "src"


def run_case(src: Path, config: Path, timeout: float, memory_mb: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src)}

    def cap_memory() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
            preexec_fn=cap_memory,  # no threads in this script
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"hang (killed after {timeout:g} s)", "seconds": None, "peak_mb": None}
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"outcome": f"crashed: {tail[:80]}", "seconds": None, "peak_mb": None}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="a commit to measure (default: the working tree)")
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--json-out", help="another path (never overwritten)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        src = source(args.ref, scratch)
        rows = []
        for name, content in cases(scratch).items():
            config = scratch / "shipyard.yml"
            config.write_bytes(content)
            rows.append({"case": name, **run_case(src, config, args.timeout, args.memory_mb)})
            print(
                f"| {name} | {rows[-1]['outcome']} | {rows[-1]['seconds']} | "
                f"{rows[-1]['peak_mb']} |",
                flush=True,
            )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", f"{args.ref or 'HEAD'}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    label = commit  # the tree is the commit: run it on a clean checkout
    record = {
        "ref": args.ref or "worktree",
        "machine": facts(label),
        "cases": rows,
    }
    variant = "before" if args.ref else None
    out = store_result("hostile_configs", record, variant=variant, out=args.json_out)
    print(f"\nwritten {out} (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
