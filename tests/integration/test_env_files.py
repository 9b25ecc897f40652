"""Each slot has its own env file; `shared/.env` is the serving slot's, copied at the switch.

So a deploy that fails after BOOT wrote the new slot's file cannot change what the serving
release restarts with.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.apprepo import AppRepo
from support.localenv import TOKEN, served_release, slot_pid

pytestmark = pytest.mark.integration


def configure(repo: AppRepo, change: Any) -> None:
    data = yaml.safe_load(repo.config.read_text())
    change(data)
    repo.write_config(data)


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def restarted(root: Path, slot: str) -> int:
    """Kill the slot's web process; supervisord starts it again (the launcher, which
    execs the app). The new app's pid."""
    old = slot_pid(root, slot)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            pid = slot_pid(root, slot)
            if pid != old and b"app.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except (AssertionError, OSError):
            pass  # not started yet, or the launcher has not exec'd the app yet
        time.sleep(0.1)
    raise AssertionError(f"web-{slot} was not restarted")


def serving_again(repo: AppRepo) -> tuple[int, str | None, str | None]:
    """What nginx serves once the restarted app answers (502 while it binds)."""
    deadline = time.monotonic() + 30
    while (answer := served_release(repo))[0] == 502 and time.monotonic() < deadline:
        time.sleep(0.1)
    return answer


def test_a_failed_deploy_leaves_what_the_serving_release_restarts_with_untouched(
    repo: AppRepo, env_dir: Path
) -> None:
    root = env_dir / "hosts"
    base = root / "reconcile" / "local"
    configure(repo, lambda data: data.update(env={"GREETING": "one", "LEGACY": "yes"}))
    repo.commit_version("1.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    before = served_release(repo)
    serving, shared = (
        (base / "run" / "blue.env").read_text(),
        (base / "shared" / ".env").read_text(),
    )
    assert serving == shared and 'GREETING="one"' in shared and TOKEN["TEST_TOKEN"] in shared

    # new values, and a release whose pre-switch check fails: after BOOT, before the switch
    configure(
        repo,
        lambda data: data.update(
            env={"GREETING": "two"}, pre_switch={"http": [{"path": "/no-such-page"}]}
        ),
    )
    repo.commit_version("2.0.0")
    failed = repo.shipyard("deploy", "local", env=TOKEN)
    assert failed.returncode == 1 and "pre-switch checks" in failed.stderr, failed.stderr
    assert 'GREETING="two"' in (base / "run" / "green.env").read_text()  # BOOT wrote it
    assert (base / "run" / "blue.env").read_text() == serving
    assert (base / "shared" / ".env").read_text() == shared
    # the serving release, restarted, still gets the values it was deployed with
    values = environ(restarted(root, "blue"))
    assert (values["GREETING"], values["LEGACY"]) == ("one", "yes")
    assert serving_again(repo) == before

    # a deploy that switches makes the new values the serving ones; removed ones go
    configure(repo, lambda data: data.pop("pre_switch"))
    repo.commit_version("2.0.1")
    done = repo.shipyard("deploy", "local", env=TOKEN)
    assert done.returncode == 0, done.stderr
    shared = (base / "shared" / ".env").read_text()
    assert shared == (base / "run" / "green.env").read_text()
    assert 'GREETING="two"' in shared and "LEGACY" not in shared
    values = environ(restarted(root, "green"))
    assert values["GREETING"] == "two" and "LEGACY" not in values
    assert values["API_TOKEN"] == TOKEN["TEST_TOKEN"]
