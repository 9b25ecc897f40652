"""Secrets reach a host in request bodies, never in the argv of a process.

While a deploy runs, the build (in PREPARE), the release command and the app itself
(at BOOT) each record the command line of every process on the machine: the operator,
the host agent working on the request that carries the secret, supervisord, the
launcher. None of them may hold the secret; the app's environment must.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.apprepo import AppRepo
from support.localenv import TOKEN, slot_pid

pytestmark = pytest.mark.integration

SECRET = TOKEN["TEST_TOKEN"]

SNAPSHOT = '''\
"""Write the command line of every process on this machine to argv[1] (JSON)."""
import json
import sys
from pathlib import Path

lines = []
for proc in Path("/proc").iterdir():
    if proc.name.isdigit():
        try:
            raw = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        lines.append(raw.replace(b"\\0", b" ").decode("utf-8", "replace"))
Path(sys.argv[1]).write_text(json.dumps(lines))
'''


def test_no_process_has_the_secret_in_its_argv_while_the_agent_handles_it(
    repo: AppRepo, env_dir: Path
) -> None:
    snapshots = {step: env_dir / f"argv-{step}.json" for step in ("build", "release", "app")}
    data = yaml.safe_load(repo.config.read_text())
    data["build"] = f"python3 argv_snapshot.py {snapshots['build']}"
    data["release_command"] = f"python3 argv_snapshot.py {snapshots['release']}"
    data["start"] = f"sh -c 'python3 argv_snapshot.py {snapshots['app']} && exec python3 app.py'"
    repo.write_config(data)
    repo.commit_file("argv_snapshot.py", SNAPSHOT, "a snapshot of every command line")

    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr + result.stdout

    for step, path in snapshots.items():
        argvs = json.loads(path.read_text())
        # the snapshot saw the agent that was given the secret, alive, and the operator
        assert any("shipyard.host serve" in argv for argv in argvs), (step, argvs)
        assert any("shipyard deploy local" in argv for argv in argvs), (step, argvs)
        leaked = [argv for argv in argvs if SECRET in argv]
        assert not leaked, f"{step}: the secret is in a command line: {leaked}"
    # and the secret did reach the app, through its environment
    pid = slot_pid(env_dir / "hosts", "blue")
    assert f"API_TOKEN={SECRET}".encode() in Path(f"/proc/{pid}/environ").read_bytes()
