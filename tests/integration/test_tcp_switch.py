"""TCP mode switches without reloading nginx, so plain keep-alive clients lose nothing.

A client that never looks whether nginx closed its idle keep-alive connection (wrk, many
HTTP libraries) fails a request whenever a reload's old nginx worker closes it. In tcp
mode a switch renames the route link (`run/route`) that nginx resolves per request, so
nginx's worker, and every client connection, survive deploys and rollbacks.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml
from support.apprepo import AppRepo, free_port
from support.load import Load
from support.localenv import TOKEN, served_release, url_of

pytestmark = pytest.mark.integration


def use_tcp_mode(repo: AppRepo) -> tuple[int, int]:
    data = yaml.safe_load(repo.config.read_text())
    data["listen_mode"] = "tcp"
    data["ports"] = [free_port(), free_port()]
    repo.write_config(data)
    repo.commit_file("shipyard.yml", repo.config.read_text(), "tcp mode")
    return data["ports"][0], data["ports"][1]


def nginx_workers(base: Path) -> set[int]:
    master = (base / "run" / "nginx.pid").read_text().strip()
    found = subprocess.run(
        ["pgrep", "-P", master], capture_output=True, text=True, check=False
    ).stdout.split()
    return {int(pid) for pid in found}


def test_tcp_mode_deploys_and_rolls_back_under_plain_keepalive_load_without_a_failed_request(
    repo: AppRepo, env_dir: Path
) -> None:
    use_tcp_mode(repo)
    base = env_dir / "hosts" / "reconcile" / "local"
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    first = served_release(repo)
    workers = nginx_workers(base)
    repo.commit_version("2.0.0")
    with Load(url_of(repo), rate=60, keepalive=4, plain=True) as load:
        load.wait_for(30)
        started = time.time()
        deployed = repo.shipyard("deploy", "local", env=TOKEN)
        assert deployed.returncode == 0, deployed.stderr
        assert served_release(repo)[2] == "2.0.0"
        load.wait_for(30)
        back = repo.shipyard("rollback", "local", env=TOKEN)
        assert back.returncode == 0, back.stderr + back.stdout
        assert "warm" in back.stdout, back.stdout
        ended = time.time()
        load.wait_for(30)
    assert served_release(repo) == first
    assert not load.failed, load.report()
    assert load.between(started, ended), load.report()
    assert {"1.0.0", "2.0.0"} <= set(load.versions()), load.report()
    assert nginx_workers(base) == workers  # nginx was never reloaded
