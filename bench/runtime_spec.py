"""What reading a release's own runtime costs the operator, per command.

Every deploy, promotion and hotfix now reads shipyard.yml from inside the built artifact,
validates the target environment there, and compares it with the working tree's file
(`execute/release_runtime.choose_runtime`). This times that step alone, in process, on
the example app's artifact: no host is involved (converge's extra `releases` round trip
per host is one agent call, measured in speed.py's host-operation figures).

    .venv/bin/python bench/runtime_spec.py [--runs 200] [--json-out PATH]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import machine, store_result  # noqa: E402

from shipyard.config.loader import ConfigFile  # noqa: E402
from shipyard.execute.release_runtime import choose_runtime  # noqa: E402
from shipyard.release.artifact import build_artifact  # noqa: E402


class Silent:
    def phase(self, host: str, phase: str, status: str, detail: str = "") -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=B", "-c", "user.email=b@localhost", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json-out", default=None, help="another path (never overwritten)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syb-runtime-"))
    try:
        repo = work / "repo"
        shutil.copytree(
            ROOT / "examples/reconcile", repo, ignore=shutil.ignore_patterns("__pycache__")
        )
        config_data = {
            "app": "reconcile",
            "start": "python3 app.py",
            "workers": {"mailer": {"command": "python3 -c 'import time; time.sleep(1e9)'"}},
            "env": {"LOG_LEVEL": "info"},
            "environments": {
                "staging": {"hosts": ["deploy@10.0.0.5"]},
                "production": {"hosts": ["deploy@10.0.0.6", "deploy@10.0.0.7"]},
            },
        }
        (repo / "shipyard.yml").write_text(yaml.safe_dump(config_data, sort_keys=False))
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "one")
        # the working tree's file has moved on: one key differs, so the diff is printed
        config_data["start"] = "python3 server.py"
        (repo / "shipyard.yml").write_text(yaml.safe_dump(config_data, sort_keys=False))
        config = ConfigFile.load(repo / "shipyard.yml")
        working = config.environment("production")
        artifact = build_artifact(
            repo, "HEAD", allow_dirty=False, cache_dir=work / "cache", ignore_working_tree=True
        )
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            chosen = choose_runtime(config, working, artifact, Silent())
            samples.append((time.perf_counter() - started) * 1000)
        assert chosen.differs == ["start"] and chosen.env.start == "python3 app.py"
        samples.sort()
        result = {
            "benchmark": "runtime_spec",
            "machine": machine(),
            "python": platform.python_version(),
            "runs": args.runs,
            "artifact_bytes": artifact.path.stat().st_size,
            "choose_runtime_ms": {
                "median": round(statistics.median(samples), 3),
                "p95": round(samples[int(len(samples) * 0.95) - 1], 3),
                "max": round(samples[-1], 3),
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"stored {store_result('runtime_spec', result, out=args.json_out)}")
    ms = result["choose_runtime_ms"]
    print("| runs | artifact | median | p95 | max |\n|---|---|---|---|---|")
    print(
        f"| {args.runs} | {result['artifact_bytes']} B | {ms['median']} ms | {ms['p95']} ms "
        f"| {ms['max']} ms |"
    )


if __name__ == "__main__":
    main()
