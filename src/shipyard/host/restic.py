"""restic, run for one environment's repository: init on first use, backup with tags,
snapshots, restore, check, forget and prune. JSON output parsed; the password and any
S3 keys only in restic's environment, never in its arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from shipyard.host.errors import HostOpError
from shipyard.plan.layout import Layout
from shipyard.protocol.backup import RepositorySpec

ERROR_LINES = 20


@dataclass(frozen=True)
class Stored:
    """What `restic backup` reported for one snapshot."""

    snapshot_id: str
    bytes_processed: int
    bytes_added: int


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    time: str
    tags: dict[str, str]  # `key=value` tags as a mapping


class Restic:
    def __init__(self, layout: Layout, spec: RepositorySpec, timeout: float) -> None:
        self.layout = layout
        self.url = spec.url or str(layout.default_repository)
        self.timeout = timeout
        self.env = (
            dict(os.environ)
            | spec.env_values
            | {
                "RESTIC_REPOSITORY": self.url,
                "RESTIC_PASSWORD": spec.password,
                "RESTIC_CACHE_DIR": str(layout.backups / "cache"),
                "RESTIC_PROGRESS_FPS": "0.1",
            }
        )
        for name in ("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND"):
            self.env.pop(name, None)  # ours, not whatever the agent inherited
        self.host_tag = f"shipyard-{layout.app}-{layout.env}"
        self.env_tag = f"env={layout.app}/{layout.env}"

    def run(
        self, *args: str, cwd: Path | None = None, what: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                ["restic", *args],
                cwd=cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise HostOpError(
                "restic is not installed on this host",
                hint="apt-get install restic (Debian), then run the command again",
            ) from None
        except subprocess.TimeoutExpired:
            raise HostOpError(
                f"restic {args[0]} timed out after {self.timeout:g}s",
                hint="raise backup.timeout, or check the repository's reachability",
            ) from None
        if check and result.returncode != 0:
            raise self.failed(what or f"restic {args[0]}", result)
        return result

    def failed(self, what: str, result: subprocess.CompletedProcess[str]) -> HostOpError:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        return HostOpError(
            f"{what} failed (restic exit {result.returncode}): "
            + (lines[-1] if lines else "no message"),
            hint=f"repository {self.display_url}; run `restic check` against it to see more",
            log_tail=lines[-ERROR_LINES:],
        )

    @property
    def display_url(self) -> str:
        return self.url  # URLs carry no credentials: S3 keys travel in the environment

    def ensure_initialised(self) -> int:
        """Create the repository if there is none yet; its format version (2 and later
        compress what they store; restic 0.14 creates version 2)."""
        found = self.run("cat", "config", check=False)
        if found.returncode != 0:
            if not self.url.startswith("s3:"):
                Path(self.url).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.run("init", what=f"creating the restic repository {self.display_url}")
            found = self.run("cat", "config", what="restic cat config")
        try:
            return int(json.loads(found.stdout).get("version", 1))
        except (ValueError, AttributeError):
            return 1

    def backup(self, directory: Path, tags: dict[str, str]) -> Stored:
        """Store `directory` (as the snapshot's one top-level entry, so that an empty
        directory is a snapshot too) with `tags`."""
        flags = ["--host", self.host_tag, "--tag", self.env_tag]
        for key, value in tags.items():
            flags += ["--tag", f"{key}={value}"]
        result = self.run(
            "backup", "--json", *flags, directory.name, cwd=directory.parent, what="restic backup"
        )
        for line in reversed(result.stdout.splitlines()):
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(message, dict) and message.get("message_type") == "summary":
                return Stored(
                    snapshot_id=str(message["snapshot_id"])[:8],
                    bytes_processed=int(message.get("total_bytes_processed", 0)),
                    bytes_added=int(message.get("data_added", 0)),
                )
        raise HostOpError("restic backup gave no summary", log_tail=result.stdout.splitlines())

    def snapshots(self, **tags: str) -> list[Snapshot]:
        """This environment's snapshots (with all of `tags`), oldest first."""
        wanted = ",".join([self.env_tag, *(f"{k}={v}" for k, v in tags.items())])
        result = self.run("snapshots", "--json", "--tag", wanted, what="restic snapshots")
        items: list[dict[str, Any]] = json.loads(result.stdout or "[]") or []
        return [
            Snapshot(
                snapshot_id=str(item.get("short_id") or item["id"][:8]),
                time=str(item["time"]),
                tags=dict(tag.partition("=")[::2] for tag in item.get("tags") or []),
            )
            for item in items
        ]

    def restore(self, snapshot_id: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.run(
            "restore",
            snapshot_id,
            "--target",
            str(target),
            what=f"restoring snapshot {snapshot_id}",
        )

    def stream(self, snapshot_id: str, path: str, consume: Callable[[IO[bytes]], None]) -> None:
        """`restic dump` one file of a snapshot into `consume` (which reads it as a pipe),
        so a restore needs no copy of the file on disk."""
        with tempfile.TemporaryFile() as errors:
            producer = subprocess.Popen(
                ["restic", "dump", snapshot_id, path],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            assert producer.stdout is not None
            consumer_failed: HostOpError | None = None
            try:
                consume(producer.stdout)
            except HostOpError as exc:
                consumer_failed = exc  # restic's own failure, if any, is the cause
            finally:
                producer.stdout.close()
                try:
                    code = producer.wait(timeout=self.timeout)
                except subprocess.TimeoutExpired:
                    producer.kill()
                    code = producer.wait()
            errors.seek(0)
            text = errors.read().decode(errors="replace")
            # restic stopped by the consumer's end of the pipe is the consumer's failure
            cut_off = code == -signal.SIGPIPE or "broken pipe" in text
            if code != 0 and not (consumer_failed is not None and cut_off):
                raise self.failed(
                    f"restic dump {snapshot_id} {path}",
                    subprocess.CompletedProcess([], code, "", text),
                ) from consumer_failed
            if consumer_failed is not None:
                raise consumer_failed

    def check(self, read_data_subset: str | None) -> None:
        args = ["check"] + ([f"--read-data-subset={read_data_subset}"] if read_data_subset else [])
        self.run(*args, what="restic check")

    def forget(self, source: str, keep: list[str]) -> tuple[list[str], list[str]]:
        """Apply `keep` to one source's snapshots; (kept, removed) short ids. Then prune."""
        result = self.run(
            "forget",
            "--json",
            "--tag",
            f"{self.env_tag},source={source}",
            "--group-by",
            "host",
            *keep,
            what=f"restic forget ({source})",
        )
        kept: list[str] = []
        removed: list[str] = []
        for group in json.loads(result.stdout or "[]") or []:
            kept += [str(s.get("short_id") or s["id"][:8]) for s in group.get("keep") or []]
            removed += [str(s.get("short_id") or s["id"][:8]) for s in group.get("remove") or []]
        if removed:
            self.run("prune", what="restic prune")
        return kept, removed
