"""pip-audit results kept for a while, per lock-file digest (`pip_audit.cache_for`).

The key is the sha256 of everything the audit depends on: each requirements file's
name and bytes, the service, its URL and `resolve`. What is kept is pip-audit's own
answer (exit status and output), so `ignore` is applied afresh each run. Only a
conclusive answer (a report) is kept, never "unknown". Entries live in
~/.cache/shipyard/pip-audit/ (the deploy user's only) and expire after `cache_for`
seconds from when the audit ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from shipyard.config.gates import PipAuditGate


@dataclass(frozen=True)
class Cached:
    returncode: int
    stdout: str
    stderr: str
    audited_at: float


def cache_dir() -> Path:
    return Path.home() / ".cache" / "shipyard" / "pip-audit"


def lock_digest(app_dir: Path, requirements: list[str], config: PipAuditGate) -> str:
    """The digest of the audit's inputs (pure but for reading the files)."""
    digest = hashlib.sha256()
    for part in (config.service, config.osv_url or "", str(config.resolve)):
        digest.update(part.encode() + b"\0")
    for name in requirements:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((app_dir / name).read_bytes()).digest())
    return digest.hexdigest()


def fresh(cached: Cached, max_age: float, now: float) -> bool:
    """Whether a kept answer may stand in for a new audit."""
    return max_age > 0 and 0 <= now - cached.audited_at <= max_age


def load(key: str, max_age: float, directory: Path | None = None) -> Cached | None:
    if max_age <= 0:
        return None
    path = (directory or cache_dir()) / f"{key}.json"
    try:
        data = json.loads(path.read_text())
        cached = Cached(
            returncode=int(data["returncode"]),
            stdout=str(data["stdout"]),
            stderr=str(data["stderr"]),
            audited_at=float(data["audited_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return cached if fresh(cached, max_age, time.time()) else None


def store(key: str, cached: Cached, directory: Path | None = None) -> None:
    """Keep an answer (best effort: a cache that cannot be written is no cache)."""
    folder = directory or cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{key}.{os.getpid()}"
        tmp.write_text(
            json.dumps(
                {
                    "returncode": cached.returncode,
                    "stdout": cached.stdout,
                    "stderr": cached.stderr,
                    "audited_at": cached.audited_at,
                }
            )
        )
        tmp.replace(folder / f"{key}.json")
    except OSError:
        return
