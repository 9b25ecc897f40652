"""Build cache benchmark: code-only and dependency-change deploys, with and without the
build cache, on one local host and one SSH test host (tests/support/sshd.py).

The app is the example app started from a real venv: `build` makes `.venv` and installs
a real requirements.txt (httpx, pydantic, rich, requests, pyyaml and their dependencies,
20-odd wheels) with pip from the local wheel directory (tests/support/wheelhouse.py),
offline. Modes:

- `pip`: `build` as above, no `build_cache` (what every deploy did before);
- `pip+cache`: the same `build`, with `build_cache: [{path: .venv, inputs:
  [requirements.txt], key: python3 -V}]`;
- `uv`, `uv+cache` (with `--uv`): the venv made and filled by uv (`uv venv`, `uv pip
  install --no-index --find-links`), uv installed into /tmp/sybench/uv from the index.

Per scenario and mode, after an untimed first deploy: RUNS x (a code-only deploy: a new
commit changing VERSION; a dependency-change deploy: requirements.txt gains or loses a
package, each time a set not deployed before, so the cache misses). Each deploy is timed
from the pipeline call to its return, and its PREPARE phase on its own.

    .venv/bin/python bench/build_cache.py                   # local and ssh1, 3 runs
    .venv/bin/python bench/build_cache.py --uv --runs 2
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import (
    RecordingReporter,
    base_config,
    commit_version,
    deploy,
    fmt,
    git,
    machine,
    make_repo,
    median,
    require_free,
    shutdown_host,
    ssh_hosts_config,
    sshd_support,
    table,
)
from pin import REPO_ROOT

REQUIREMENTS = ["httpx", "pydantic", "rich", "requests", "pyyaml"]
# run N's dependency change deploys EXTRAS[N + 1] on top: a set not deployed before
EXTRAS = [
    [],
    ["h11"],
    ["packaging"],
    ["h11", "packaging"],
    ["platformdirs"],
    ["h11", "platformdirs"],
    ["packaging", "platformdirs"],
]
UV_DIR = Path("/tmp/sybench/uv")
CACHE = [{"path": ".venv", "inputs": ["requirements.txt"], "key": "python3 -V"}]


def wheel_dir() -> Path:
    # from the repository, not the snapshot: it reads pyproject.toml next to it
    path = REPO_ROOT / "tests" / "support" / "wheelhouse.py"
    spec = importlib.util.spec_from_file_location("shipyard_bench_wheelhouse", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.ensure())


def uv_binary() -> Path:
    """uv from the package index, in a venv of its own (not one of Shipyard's deps)."""
    uv = UV_DIR / "bin" / "uv"
    if not uv.exists():
        subprocess.run([sys.executable, "-m", "venv", str(UV_DIR)], check=True)
        pip = [str(UV_DIR / "bin" / "pip"), "install", "--quiet", "uv"]
        subprocess.run(pip, check=True)
    return uv


def build_command(mode: str, wheels: Path, uv: Path | None) -> str:
    if mode.startswith("uv"):
        assert uv is not None
        return (
            f"{uv} venv --quiet --python python3 .venv && {uv} pip install --quiet "
            f"--python .venv/bin/python --no-index --find-links {wheels} -r requirements.txt"
        )
    return (
        "python3 -m venv .venv && .venv/bin/pip install --quiet --no-index "
        f"--disable-pip-version-check --find-links {wheels} -r requirements.txt"
    )


def write_requirements(repo: Path, extra: list[str], message: str) -> None:
    (repo / "requirements.txt").write_text("\n".join([*REQUIREMENTS, *extra]) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


async def timed(config_path: Path, message: str, echo: bool) -> dict[str, Any]:
    reporter = RecordingReporter(echo=echo)
    start = time.monotonic()
    result = await deploy(config_path, message, reporter)
    total = time.monotonic() - start
    details = [e.detail for e in reporter.events if e.phase == "prepare" and e.detail]
    return {
        "total": round(total, 3),
        "prepare": round(result.timings.get("prepare", float("nan")), 3),
        "cache": details[-1] if details else "",
    }


async def run_mode(
    name: str, mode: str, config: dict[str, Any], workdir: Path, runs: int, echo: bool
) -> dict[str, Any]:
    repo = workdir / f"{name}-{mode.replace('+', '-')}" / "repo"
    config_path = make_repo(repo, config)
    boot = "import httpx, pydantic, rich, runpy\nrunpy.run_path('app.py', run_name='__main__')\n"
    (repo / "boot.py").write_text(boot)
    write_requirements(repo, [], "requirements")
    print(f"  {name} {mode}: first deploy", flush=True)
    first = await timed(config_path, "first", echo)
    code_only: list[dict[str, Any]] = []
    dependency: list[dict[str, Any]] = []
    for run in range(runs):
        commit_version(repo, f"1.{run + 1}.0")
        code_only.append(await timed(config_path, f"code {run}", echo))
        write_requirements(repo, EXTRAS[run + 1], f"deps {run}")
        dependency.append(await timed(config_path, f"deps {run}", echo))
        print(f"    run {run + 1}: code-only {code_only[-1]}, deps {dependency[-1]}", flush=True)
    return {
        "first": first,
        "code_only": code_only,
        "dependency_change": dependency,
        "code_only_median": median([r["total"] for r in code_only]),
        "dependency_change_median": median([r["total"] for r in dependency]),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    wheels = wheel_dir()
    modes = ["pip", "pip+cache"]
    uv = None
    if args.uv:
        uv = uv_binary()
        modes += ["uv", "uv+cache"]
    uv_version = (
        subprocess.run([str(uv), "--version"], capture_output=True, text=True).stdout.strip()
        if uv
        else None
    )
    results: dict[str, Any] = {
        "benchmark": "build_cache",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "runs": args.runs,
        "requirements": REQUIREMENTS,
        "uv": uv_version,
        "scenarios": {},
    }
    scenarios = args.scenarios.split(",")
    fleet = None
    try:
        hosts: list[Any] = []
        if "ssh1" in scenarios:
            fleet = sshd_support().SshFleet(port=args.ssh_port)
            fleet.base.chmod(0o711)
            hosts = fleet(1)
        for offset, name in enumerate(scenarios):
            results["scenarios"][name] = {}
            for index, mode in enumerate(modes):
                port = args.port + offset * 10 + index
                overrides: dict[str, Any] = {
                    "build": build_command(mode, wheels, uv),
                    "start": ".venv/bin/python boot.py",
                    "observe": {"window": 0},
                    "build_timeout": 600,
                }
                if mode.endswith("+cache"):
                    overrides["build_cache"] = CACHE
                tag = f"{name}-{mode.replace('+', '-')}"
                if name == "local":
                    require_free(port)
                    root = workdir / tag / "hosts"
                    roots = [str(root)]
                    config = base_config(root, port, **overrides)
                else:
                    require_free(port, hosts[0].address)
                    config = base_config(workdir / "unused", port, **overrides)
                    config["environments"] = {"bench": ssh_hosts_config(fleet, hosts, port, tag)}
                    roots = [str(hosts[0].root_dir / tag)]
                try:
                    results["scenarios"][name][mode] = await run_mode(
                        name, mode, config, workdir, args.runs, args.verbose
                    )
                finally:
                    for root in roots:
                        shutdown_host(root)
    finally:
        if fleet is not None:
            fleet.cleanup()
    return results


def report(results: dict[str, Any]) -> str:
    rows = []
    for name, modes in results["scenarios"].items():
        base = modes.get("pip", {})
        for mode, data in modes.items():
            ratio = ""
            if base and mode != "pip":
                ratio = fmt(data["code_only_median"] / base["code_only_median"])
            rows.append(
                [
                    name,
                    mode,
                    fmt(data["first"]["total"]),
                    fmt(data["code_only_median"]),
                    fmt(data["dependency_change_median"]),
                    ratio,
                ]
            )
    headers = ["scenario", "mode", "first deploy s", "code-only s", "dependency change s"]
    return table([*headers, "code-only vs pip"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="local,ssh1")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uv", action="store_true", help="also measure uv as the installer")
    parser.add_argument("--port", type=int, default=18390, help="nginx ports from here")
    parser.add_argument("--ssh-port", type=int, default=2422, help="first port for test sshd")
    parser.add_argument("--workdir", default="/tmp/sybench/build_cache")
    parser.add_argument("--json-out", help="default: bench/results/build_cache-<commit>-<UTC>")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.runs < len(EXTRAS):
        parser.error(f"--runs must be 1-{len(EXTRAS) - 1}")
    results = asyncio.run(main_async(args))
    commit = str(results["machine"]["shipyard"]).removeprefix("worktree at ")[:12]
    if not all(c in "0123456789abcdef" for c in commit):
        commit = git(REPO_ROOT, "rev-parse", "HEAD")[:12]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    default = Path(__file__).with_name("results") / f"build_cache-{commit}-{stamp}.json"
    out = Path(args.json_out or default)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report(results))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
