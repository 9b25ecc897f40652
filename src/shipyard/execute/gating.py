"""Run the quality gates on exactly the code a deploy will ship."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from shipyard.config.model import Environment
from shipyard.core.redact import redact
from shipyard.execute.reporter import Reporter


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def gate_release(
    env: Environment,
    config_path: Path,
    ref: str,
    reporter: Reporter,
    *,
    include_optional: bool,
    secrets: list[str],
) -> dict[str, Any]:
    """Run ENV's gates on the code at `ref`; return the report (secrets redacted).

    At HEAD the gates see the working tree (what a clean or --allow-dirty deploy ships);
    at another ref they run in a temporary checkout of that commit, so what passed the
    gates is what ships. Raises GatesFailed.
    """
    from shipyard.gates import run_gates_for  # the gate tooling: only for commands that gate

    app_dir = config_path.resolve().parent
    top = _git(app_dir, "rev-parse", "--show-toplevel")
    commit = _git(app_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not top or not commit or commit == _git(app_dir, "rev-parse", "HEAD"):
        report = run_gates_for(env, config_path, reporter, include_optional=include_optional)
    else:
        subdir = app_dir.relative_to(Path(top).resolve())
        with tempfile.TemporaryDirectory(prefix="shipyard-gates-") as tmp:
            checkout = Path(tmp) / "tree"
            subprocess.run(
                ["git", "-C", top, "worktree", "add", "--detach", "--quiet", str(checkout), commit],
                check=True,
                capture_output=True,
            )
            try:
                config = checkout / subdir / config_path.name
                if not config.exists():
                    config.write_text(config_path.read_text())
                report = run_gates_for(env, config, reporter, include_optional=include_optional)
            finally:
                subprocess.run(
                    ["git", "-C", top, "worktree", "remove", "--force", str(checkout)],
                    check=False,
                    capture_output=True,
                )
    return dict(json.loads(redact(json.dumps(report), secrets)))
