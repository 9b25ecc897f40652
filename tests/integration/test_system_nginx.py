"""`nginx.mode: system`: the host's own nginx includes the environment's server block."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.apprepo import AppRepo
from support.localenv import TOKEN, served_release

pytestmark = pytest.mark.integration


@pytest.fixture
def system_nginx(env_dir: Path) -> Iterator[tuple[Path, Path]]:
    """A stand-in for a server's nginx: its own main config with a sites directory."""
    base = env_dir / "sys"
    sites = base / "sites"
    sites.mkdir(parents=True)
    (base / "tmp").mkdir()
    conf = base / "nginx.conf"
    pid = base / "nginx.pid"
    conf.write_text(
        f"pid {pid};\nerror_log {base}/error.log;\nevents {{}}\n"
        f"http {{\n  client_body_temp_path {base}/tmp;\n  proxy_temp_path {base}/tmp;\n"
        f"  access_log off;\n  include {sites}/*.conf;\n}}\n"
    )
    wrapper = base / "nginx"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/sbin/nginx -c {conf} "$@"\n')
    wrapper.chmod(0o755)
    yield wrapper, sites
    subprocess.run([str(wrapper), "-s", "quit"], check=False, capture_output=True)


def test_system_mode_links_a_tested_server_block_and_reloads_the_hosts_nginx(
    repo: AppRepo, env_dir: Path, system_nginx: tuple[Path, Path]
) -> None:
    wrapper, sites = system_nginx
    data = yaml.safe_load(repo.config.read_text())
    data["nginx"] |= {
        "mode": "system",
        "binary": str(wrapper),
        "include_dir": str(sites),
        "pid_file": str(wrapper.parent / "nginx.pid"),
    }
    repo.write_config(data)
    repo.commit_version("1.0.0")
    result = repo.shipyard("deploy", "local", env=TOKEN)
    assert result.returncode == 0, result.stderr
    link = sites / "shipyard-reconcile-local.conf"
    assert link.is_symlink()
    assert served_release(repo)[2] == "1.0.0"
    repo.commit_version("2.0.0")
    assert repo.shipyard("deploy", "local", env=TOKEN).returncode == 0
    assert served_release(repo)[2] == "2.0.0"
    # a server block the host's nginx rejects is put back; the old release keeps serving
    # a size the config accepts but the host's nginx cannot hold: only nginx -t can tell
    data["nginx"]["client_max_body_size"] = "999999999999g"
    repo.write_config(data)
    repo.commit_version("3.0.0")
    bad = repo.shipyard("deploy", "local", env=TOKEN)
    assert bad.returncode == 1 and "nginx -t rejected" in bad.stderr
    assert served_release(repo)[2] == "2.0.0"
