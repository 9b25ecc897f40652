"""The build cache on a local environment: a real venv built with pip from a local wheel
directory (offline), reused by a code-only deploy and rebuilt when requirements change."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from support import wheelhouse
from support.apprepo import AppRepo, free_port, local_config, make_repo
from support.localenv import TOKEN, served_release, slot_pid

pytestmark = pytest.mark.integration

# the app imports a package from its venv before it serves: a broken venv never gets healthy
BOOT = "import idna, runpy\nrunpy.run_path('app.py', run_name='__main__')\n"


@pytest.fixture
def venv_repo(env_dir: Path) -> AppRepo:
    wheels = wheelhouse.ensure()
    build = (
        "python3 -m venv .venv && .venv/bin/pip install --quiet --no-index "
        f"--disable-pip-version-check --find-links {wheels} -r requirements.txt"
    )
    config = local_config(
        env_dir / "hosts",
        free_port(),
        build=build,
        start=".venv/bin/python boot.py",
        build_cache=[{"path": ".venv", "inputs": ["requirements.txt"], "key": "python3 -V"}],
        secrets={"API_TOKEN": {"from_env": "TEST_TOKEN"}},
        # the gates have their own tests (pip-audit would need pinned requirements and a
        # vulnerability service); here they would only add time to every deploy
        gates={"bandit": {"enabled": False}, "pip_audit": {"enabled": False}},
    )
    repo = make_repo(env_dir / "repo", config)
    repo.commit_file("boot.py", BOOT, "boot through the venv")
    repo.commit_file("requirements.txt", "idna\n", "requirements")
    return repo


def tree_digest(path: Path) -> str:
    """Every file's path, mode, and contents (or symlink target) under `path`."""
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        digest.update(str(item.relative_to(path)).encode())
        digest.update(oct(item.lstat().st_mode).encode())
        if item.is_symlink():
            digest.update(os.readlink(item).encode())
        elif item.is_file():
            digest.update(item.read_bytes())
    return digest.hexdigest()


def release_of(env_dir: Path, release_id: str) -> Path:
    return env_dir / "hosts" / "reconcile" / "local" / "releases" / release_id


def cache_keys(env_dir: Path) -> set[str]:
    cache = env_dir / "hosts" / "reconcile" / "local" / "cache" / ".venv"
    return {p.name for p in cache.iterdir()} if cache.is_dir() else set()


def deploy(repo: AppRepo) -> tuple[str, str]:
    done = repo.shipyard("deploy", "local", env=TOKEN)
    assert done.returncode == 0, done.stderr + done.stdout
    status, release, _ = served_release(repo)
    assert status == 200 and release
    return release, done.stdout


def test_a_code_only_deploy_reuses_the_venv_and_a_requirements_change_rebuilds_it(
    venv_repo: AppRepo, env_dir: Path
) -> None:
    first, out = deploy(venv_repo)
    assert "build cache miss: .venv" in out
    assert len(cache_keys(env_dir)) == 1
    serving_venv = release_of(env_dir, first) / ".venv"
    before = tree_digest(serving_venv)

    venv_repo.commit_version("2.0.0")
    second, out = deploy(venv_repo)
    assert second != first
    assert "build cache hit: .venv" in out
    assert served_release(venv_repo)[2] == "2.0.0"
    assert len(cache_keys(env_dir)) == 1
    # the serving release's venv was not touched by the deploy that reused the product
    assert tree_digest(serving_venv) == before
    # the new release runs from its own copy, whose scripts name the new place
    new_venv = release_of(env_dir, second) / ".venv"
    pid = slot_pid(env_dir / "hosts", "green")
    assert Path(f"/proc/{pid}/cwd").resolve() == release_of(env_dir, second)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b".venv/bin/python\0")
    pip = subprocess.run(
        [str(new_venv / "bin" / "pip"), "--version"], capture_output=True, text=True, check=True
    )
    assert str(new_venv) in pip.stdout
    assert str(serving_venv) not in (new_venv / "bin" / "pip").read_text()
    assert (new_venv / "bin" / "pip").stat().st_ino != (serving_venv / "bin" / "pip").stat().st_ino

    serving_venv = new_venv
    before = tree_digest(serving_venv)
    venv_repo.commit_file("requirements.txt", "idna\nh11\n", "add h11")
    third, out = deploy(venv_repo)
    assert "build cache miss: .venv" in out
    assert len(cache_keys(env_dir)) == 2
    assert tree_digest(serving_venv) == before
    check = [str(release_of(env_dir, third) / ".venv" / "bin" / "python"), "-c", "import h11"]
    assert subprocess.run(check, check=False).returncode == 0


def test_cleanup_removes_cached_products_no_kept_release_uses_past_the_newest_kept(
    venv_repo: AppRepo, env_dir: Path
) -> None:
    config = yaml.safe_load(venv_repo.config.read_text())
    config["build_cache"] = {"products": config["build_cache"], "keep": 0}
    config["keep_releases"] = 2
    venv_repo.write_config(config)
    venv_repo.commit_file("requirements.txt", "idna\n", "keep two releases, no spare venvs")
    deploy(venv_repo)
    for extra in ["h11", "certifi", "urllib3"]:
        venv_repo.commit_file("requirements.txt", f"idna\n{extra}\n", f"add {extra}")
        deploy(venv_repo)
    # two releases are kept (the active one and the one before): their two venvs stay
    releases = env_dir / "hosts" / "reconcile" / "local" / "releases"
    kept = [p for p in releases.iterdir() if not p.name.startswith(".")]
    assert len(kept) == 2
    used = {json.loads((p / ".shipyard-build-cache.json").read_text())[".venv"] for p in kept}
    assert cache_keys(env_dir) == used
