"""Build the release artifact on the operator's machine: a tarball of one git commit.

The artifact is a deterministic .tar.gz of the app directory at a commit (`git archive`),
its sha256 digest, and a manifest saying what it is and who built it.
"""

from __future__ import annotations

import getpass
import gzip
import hashlib
import io
import os
import socket
import subprocess
import tarfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shipyard.core.files import atomic_write
from shipyard.errors import ExitCode, ShipyardError
from shipyard.protocol.common import ReleaseManifest


class ArtifactError(ShipyardError):
    """The release could not be built (exit 5)."""

    exit_code = ExitCode.BUILD


@dataclass(frozen=True)
class Artifact:
    path: Path
    digest: str
    manifest: ReleaseManifest

    @property
    def release_id(self) -> str:
        return self.manifest.release_id


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ArtifactError(
            f"git {' '.join(args)} failed: {result.stderr.strip()}",
            hint="run shipyard inside the app's git repository",
        )
    return result.stdout.strip()


def _commit_of(top: Path, ref: str) -> str:
    """The commit a branch, tag or sha names; a clear error for one that names none."""
    result = subprocess.run(
        [
            "git",
            "-C",
            str(top),
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{ref}^{{commit}}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise ArtifactError(
            f"no commit named {ref!r} in the git repository {top}",
            hint="pass a branch, tag or commit sha that exists there (`git log --oneline`); "
            "fetch it first if it is only on a remote",
        )
    return result.stdout.strip()


def release_id_for(commit: str, dirty: bool, digest: str) -> str:
    """Pure: a clean commit is its own release id; a dirty tree is marked and made unique."""
    short = commit[:12]
    return f"{short}-dirty-{digest[:8]}" if dirty else short


def build_artifact(
    app_dir: Path,
    ref: str,
    *,
    allow_dirty: bool,
    cache_dir: Path,
    ignore_working_tree: bool = False,
) -> Artifact:
    """Build the artifact of `app_dir` (the directory holding shipyard.yml) at `ref`.

    `ignore_working_tree` builds the commit alone, whatever is checked out (promotion
    rebuilds the exact commit staging ran).
    """
    app_dir = app_dir.resolve()
    try:
        top = Path(_git(app_dir, "rev-parse", "--show-toplevel")).resolve()
    except ArtifactError:
        raise ArtifactError(
            f"{app_dir} is not inside a git repository",
            hint="shipyard deploys commits: `git init && git add -A && git commit` first",
        ) from None
    subdir = app_dir.relative_to(top).as_posix()
    commit = _commit_of(top, ref)
    commit_time = _git(top, "show", "-s", "--format=%cI", commit)
    pathspec = subdir if subdir != "." else "."
    changes = _git(top, "status", "--porcelain", "--untracked-files=normal", "--", pathspec)
    head = _git(top, "rev-parse", "HEAD")
    # the working tree only matters when deploying what is checked out
    dirty = bool(changes) and commit == head and not ignore_working_tree
    if dirty and not allow_dirty:
        first = changes.splitlines()[0]
        raise ArtifactError(
            f"the working tree has uncommitted changes ({first.strip()} ...)",
            hint="commit or stash them, or pass --allow-dirty to deploy them (marked dirty)",
        )
    raw = (
        _tar_working_tree(top, subdir)
        if dirty
        else _git_bytes(
            top, "archive", "--format=tar", f"{commit}:{subdir}" if subdir != "." else commit
        )
    )
    data = _gzip_deterministic(_normalise(raw))
    digest = hashlib.sha256(data).hexdigest()
    release_id = release_id_for(commit, dirty, digest)
    manifest = ReleaseManifest(
        release_id=release_id,
        commit=commit,
        commit_time=commit_time,
        ref=ref,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        builder=f"{_user()}@{socket.gethostname()}",
        dirty=dirty,
        gates=None,
    )
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = cache_dir / f"{release_id}.tar.gz"
    atomic_write(path, data, mode=0o600)
    return Artifact(path=path, digest=digest, manifest=manifest)


def read_member(artifact: Artifact, name: str) -> str | None:
    """The text of file `name` (relative to the app directory) inside the artifact itself,
    that is as the digest covers it; None if the release has no such file."""
    try:
        with tarfile.open(artifact.path, mode="r:gz") as tar:
            for candidate in (name, f"./{name}"):
                try:
                    member = tar.getmember(candidate)
                except KeyError:
                    continue
                handle = tar.extractfile(member) if member.isfile() else None
                return handle.read().decode("utf-8") if handle else None
    except (OSError, EOFError, zlib.error, tarfile.TarError, UnicodeDecodeError) as exc:
        # EOFError: gzip's "compressed file ended" for a file cut short (click would
        # otherwise turn it into a bare "Aborted.")
        raise ArtifactError(f"cannot read {name} from {artifact.path}: {exc}") from None
    return None


def artifact_cache() -> Path:
    """Where built artifacts are kept on the operator's machine (the deploy user's only)."""
    return Path.home() / ".cache" / "shipyard" / "artifacts"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _git_bytes(repo: Path, *args: str) -> bytes:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise ArtifactError(f"git {args[0]} failed: {result.stderr.decode().strip()}")
    return result.stdout


def _tar_working_tree(top: Path, subdir: str) -> bytes:
    """The tracked and untracked-but-not-ignored files under subdir, as they are now."""
    listing = _git_bytes(
        top, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", subdir
    )
    names = sorted({n for n in listing.decode().split("\0") if n})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            path = top / name
            if not path.exists() and not path.is_symlink():
                continue  # deleted in the working tree
            arcname = Path(name).relative_to(subdir).as_posix() if subdir != "." else name
            info = tar.gettarinfo(str(path), arcname=arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if info.isfile():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _normalise(raw: bytes) -> bytes:
    """Rewrite a tar with fixed mtimes and owners, so one commit always has one digest.

    (`git archive` of a sub-tree stamps entries with the current time.)
    """
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as source,
        tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member in source.getmembers():
            member.mtime = 0
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.pax_headers = {}
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
    return buffer.getvalue()


def _gzip_deterministic(raw: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6) as handle:
        handle.write(raw)
    return buffer.getvalue()
