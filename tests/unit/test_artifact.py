"""The release artifact: built from a git commit, deterministic, dirty trees refused."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from shipyard.errors import ExitCode
from shipyard.release.artifact import ArtifactError, build_artifact, release_id_for


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@x", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / "app").mkdir(parents=True)
    (path / "app" / "app.py").write_text("print('hi')\n")
    (path / "app" / "shipyard.yml").write_text("app: a\n")
    (path / "README").write_text("outside the app dir\n")
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "one")
    return path


def test_the_artifact_holds_only_the_app_directory_at_the_commit(
    repo: Path, tmp_path: Path
) -> None:
    artifact = build_artifact(repo / "app", "HEAD", allow_dirty=False, cache_dir=tmp_path / "c")
    with tarfile.open(artifact.path) as tar:
        assert sorted(tar.getnames()) == ["app.py", "shipyard.yml"]
    commit = git(repo, "rev-parse", "HEAD")
    assert artifact.manifest.commit == commit
    assert artifact.release_id == commit[:12]
    assert artifact.manifest.commit_time and artifact.manifest.builder
    assert not artifact.manifest.dirty


def test_building_the_same_commit_twice_gives_the_same_digest(repo: Path, tmp_path: Path) -> None:
    one = build_artifact(repo / "app", "HEAD", allow_dirty=False, cache_dir=tmp_path / "c")
    two = build_artifact(repo / "app", "HEAD", allow_dirty=False, cache_dir=tmp_path / "d")
    assert one.digest == two.digest


def test_a_dirty_tree_is_refused_with_a_hint(repo: Path, tmp_path: Path) -> None:
    (repo / "app" / "app.py").write_text("print('changed')\n")
    with pytest.raises(ArtifactError) as caught:
        build_artifact(repo / "app", "HEAD", allow_dirty=False, cache_dir=tmp_path / "c")
    assert "--allow-dirty" in caught.value.hint


def test_allow_dirty_ships_the_working_tree_and_marks_the_release(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "app" / "app.py").write_text("print('changed')\n")
    artifact = build_artifact(repo / "app", "HEAD", allow_dirty=True, cache_dir=tmp_path / "c")
    assert artifact.manifest.dirty and "-dirty-" in artifact.release_id
    with tarfile.open(artifact.path) as tar:
        member = tar.extractfile("app.py")
        assert member is not None and member.read() == b"print('changed')\n"


def test_an_unknown_ref_is_an_error_naming_the_ref_and_how_to_find_one(
    repo: Path, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError) as raised:
        build_artifact(repo / "app", "no-such-branch", allow_dirty=False, cache_dir=tmp_path / "c")
    error = raised.value
    assert error.message == (
        f"no commit named 'no-such-branch' in the git repository {repo.resolve()}"
    )
    assert "git log" in error.hint and "fetch it first" in error.hint
    assert error.exit_code == ExitCode.BUILD


def test_release_ids_are_the_short_commit_or_marked_dirty() -> None:
    assert release_id_for("a" * 40, False, "f" * 64) == "a" * 12
    assert release_id_for("a" * 40, True, "f" * 64) == "a" * 12 + "-dirty-ffffffff"


def test_a_truncated_artifact_is_an_artifact_error_naming_the_file_not_an_abort(
    repo: Path, tmp_path: Path
) -> None:
    from shipyard.release.artifact import read_member

    artifact = build_artifact(repo / "app", "HEAD", allow_dirty=False, cache_dir=tmp_path / "c")
    data = artifact.path.read_bytes()
    artifact.path.write_bytes(data[: len(data) // 2])  # as a copy cut short would leave it
    with pytest.raises(ArtifactError) as caught:
        read_member(artifact, "shipyard.yml")
    assert str(artifact.path) in caught.value.message
