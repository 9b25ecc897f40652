"""PREPARE: the release unpacked and built; supervisord and nginx configured; the
release command. Requests and replies: `shipyard.protocol.prepare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write
from shipyard.host import build_cache
from shipyard.host.context import Context, reachable_sockets, untraversable_parent
from shipyard.host.errors import HostOpError
from shipyard.host.operations.handler import Handler
from shipyard.host.resources import check_disk
from shipyard.host.shared_paths import link_shared
from shipyard.host.state import State
from shipyard.host.steps import run_step
from shipyard.host.unpack import safe_unpack, verify_digest
from shipyard.plan.layout import Layout
from shipyard.protocol import prepare as proto
from shipyard.protocol.codec import encode
from shipyard.protocol.op import Empty

INCOMPLETE = ".shipyard-incomplete"  # in a release directory whose PREPARE has not finished


def is_prepared(release_dir: Path, digest: str | None = None) -> bool:
    """The release directory is complete (and, if given, holds the artifact `digest`)."""
    manifest = release_dir / "release.json"
    if not manifest.exists() or (release_dir / INCOMPLETE).exists():
        return False
    if digest is None:
        return True
    try:
        return bool(json.loads(manifest.read_text()).get("digest") == digest)
    except ValueError:
        return False


def prepare(ctx: Context, request: proto.PrepareRequest) -> proto.PrepareReply:
    artifact = Path(request.artifact)
    try:
        return _prepare(ctx, request, artifact)
    finally:
        artifact.unlink(missing_ok=True)  # kept neither after success nor after a refusal


def _prepare(ctx: Context, request: proto.PrepareRequest, artifact: Path) -> proto.PrepareReply:
    layout, state = ctx.layout, ctx.open_state()
    release_dir = layout.release_dir(request.release_id)
    if is_prepared(release_dir, request.digest):
        state.record_release(request.release_id, request.digest, request.manifest, request.runtime)
        return proto.PrepareReply(reused=True)
    check_disk(
        layout.base,
        artifact.stat().st_size,
        request.disk_per_artifact,
        request.min_free_disk_mb,
    )
    verify_digest(artifact, request.digest)
    if release_dir.exists():
        _refuse_if_running(state, layout, request.release_id)
        shutil.rmtree(release_dir)
    tmp = layout.releases / f".{request.release_id}.unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        safe_unpack(artifact, tmp)
        (tmp / INCOMPLETE).touch()
        tmp.rename(release_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cached: list[proto.CacheOutcome] = []
    try:
        link_shared(layout, release_dir, request.shared.dirs, request.shared.files)
        if request.build:
            cached = build_cache.build(layout, request, release_dir)
        manifest = encode(request.manifest) | {"digest": request.digest}
        atomic_write(release_dir / "release.json", json.dumps(manifest, indent=2) + "\n")
        (release_dir / INCOMPLETE).unlink()
    except BaseException:
        shutil.rmtree(release_dir, ignore_errors=True)
        raise
    state.record_release(request.release_id, request.digest, request.manifest, request.runtime)
    return proto.PrepareReply(reused=False, build_cache=cached)


def _refuse_if_running(state: State, layout: Layout, release_id: str) -> None:
    """A release directory with another digest is replaced, unless a slot runs it: a
    running process's tree is never removed or rewritten under it."""
    for slot, row in state.slots().items():
        if row.release_id == release_id and row.state not in ("stopped", "failed"):
            raise HostOpError(
                f"release {release_id} is already on this host with a different artifact "
                f"digest, and slot {slot} runs it ({row.state}); it was left as it is",
                hint="the same commit was archived differently (e.g. another git version or "
                "tar.umask); deploy from the machine that built the running release, or "
                "deploy another commit first so the slot is retired",
            )


def release_command(ctx: Context, request: proto.ReleaseCommandRequest) -> Empty:
    run_step(
        ctx.layout,
        "release",
        request.command,
        ctx.layout.release_dir(request.release_id),
        request.release_id,
        request.timeout,
        request.env_values,
    )
    return Empty()


def proxy(ctx: Context, request: proto.ProxyRequest) -> proto.ProxyReply:
    """Ensure supervisord runs, and nginx has this environment's config and is running."""
    spec = reachable_sockets(ctx.layout, request.proxy)
    managed = spec.mode == "managed"
    if not spec.worker_user:  # tcp mode too: nginx resolves run/route per request
        check_traversable(ctx.layout.run)
    started = ctx.supervisor.ensure(
        nginx_binary=spec.binary if managed else None,
        drain_timeout=spec.drain_timeout,
        workers=tuple(request.workers),
    )
    changed = ctx.nginx(spec).apply(request.ports)
    return proto.ProxyReply(supervisor_started=started, nginx_config_changed=changed)


def check_traversable(path: Path) -> None:
    """nginx's workers run as an unprivileged user: every parent of run/ must let them in."""
    parent = untraversable_parent(path)
    if parent is not None:
        raise HostOpError(
            f"nginx's workers cannot reach the sockets in {path}: {parent} is not "
            "searchable by other users",
            hint=f"chmod o+x {parent}, choose a `root` under a world-searchable directory, "
            "or set nginx.worker_user to a user that can reach it",
        )


HANDLERS: list[Handler[Any, Any]] = [
    Handler(proto.PREPARE, prepare),
    Handler(proto.RELEASE_COMMAND, release_command),
    Handler(proto.PROXY, proxy),
]
