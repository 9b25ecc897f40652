"""Host operations: `shipyard host <op>`, JSON request on stdin, JSON result on stdout.

Each operation that must be atomic on a host (the switch, the lock) is one call here,
so a dropped SSH link can never leave it half-done. Local mode runs this same code
through the local transport.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard import __version__
from shipyard.host import lock as host_lock
from shipyard.host.envfile import read_env_file, write_env_file
from shipyard.host.errors import HostOpError
from shipyard.host.guard import slot_guard
from shipyard.host.health import Target, probe_once, wait_healthy
from shipyard.host.layout import SLOTS, Layout, other_slot
from shipyard.host.nginx import Nginx, ProxySettings
from shipyard.host.resources import check_disk, check_memory
from shipyard.host.state import State
from shipyard.host.supervisor import RUNNING_STATES, Supervisor, tail
from shipyard.host.unpack import safe_unpack, verify_digest

PROTOCOL = 1
LOG_TAIL = 50
INCOMPLETE = ".shipyard-incomplete"

Request = dict[str, Any]
Result = dict[str, Any]


class Context:
    def __init__(self, request: Request) -> None:
        self.request = request
        self.layout = Layout(Path(request["root"]), request["app"], request["env"])

    @property
    def state(self) -> State:
        return State(self.layout.state_db)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.layout)

    def nginx(self) -> Nginx:
        p = self.request["proxy"]
        return Nginx(
            self.layout,
            ProxySettings(
                mode=p["mode"],
                binary=p["binary"],
                listen=p["listen"],
                server_names=tuple(p["server_names"]),
                client_max_body_size=p["client_max_body_size"],
                listen_mode=p["listen_mode"],
                include_dir=p.get("include_dir"),
                worker_user=p.get("worker_user"),
                drain_timeout=p["drain_timeout"],
                pid_file=p.get("pid_file", "/run/nginx.pid"),
            ),
        )


def op_hello(ctx: Context) -> Result:
    layout = ctx.layout
    too_long = layout.too_long_socket_paths()
    if too_long:
        raise HostOpError(
            f"socket path too long for this OS: {too_long[0]}",
            hint="choose a shorter `root` (unix socket paths are limited to 107 bytes)",
        )
    layout.create()
    usage = shutil.disk_usage(layout.base)
    return {
        "version": __version__,
        "protocol": PROTOCOL,
        "python": sys.version.split()[0],
        "hostname": socket.gethostname(),
        "free_disk_bytes": usage.free,
    }


# lock and records (primary host) -------------------------------------------------
def op_lock(ctx: Context) -> Result:
    req, state = ctx.request, ctx.state
    action = req["action"]
    if action == "status":
        view = host_lock.read(state)
        return {"lock": view.to_json() if view else None}
    if action == "acquire":
        holder = host_lock.Holder(**req["holder"])
        current, taken_over = host_lock.acquire(
            state, holder, heartbeat=req.get("heartbeat", True), force=req.get("force", False)
        )
        if current is not None:
            return {"acquired": False, "lock": current.to_json()}
        if taken_over is not None:
            state.event("lock-taken-over", taken_over.to_json(), holder.deployment_id)
        state.event("lock-acquired", req["holder"], holder.deployment_id)
        return {"acquired": True, "taken_over": taken_over.to_json() if taken_over else None}
    if action == "refresh":
        return {"held": host_lock.refresh(state, req["deployment_id"])}
    if action == "release":
        try:
            view = host_lock.release(
                state,
                req.get("deployment_id"),
                force=req.get("force", False),
                actor=req.get("actor"),
            )
        except PermissionError as exc:
            held = exc.args[0]
            raise HostOpError(
                f"the lock is held by {held.holder.actor} ({held.holder.reason}), not by you",
                hint="use `shipyard lock release ENV --force` if you are sure it is abandoned",
            ) from None
        if view is not None:
            state.event("lock-released", view.to_json(), req.get("deployment_id"))
        return {"released": view.to_json() if view else None}
    raise HostOpError(f"unknown lock action {action!r}")


def op_record(ctx: Context) -> Result:
    req, state = ctx.request, ctx.state
    action = req["action"]
    if action == "start":
        state.start_deployment(req["deployment"])
        return {}
    if action == "update":
        state.update_deployment(
            req["deployment_id"],
            phases=req.get("phases"),
            outcome=req.get("outcome"),
            error=req.get("error"),
            previous_release_id=req.get("previous_release_id"),
            analysis=req.get("analysis"),
            checks=req.get("checks"),
            finished=req.get("finished", False),
        )
        if req.get("deployment_id") and not req.get("finished"):
            host_lock.refresh(state, req["deployment_id"])
        return {}
    raise HostOpError(f"unknown record action {action!r}")


def op_approval(ctx: Context) -> Result:
    req, state = ctx.request, ctx.state
    if req["action"] == "add":
        state.approve(req["release_id"], req["actor"], req.get("note", ""))
        state.event("approved", {"release_id": req["release_id"], "actor": req["actor"]})
    return {"approvals": state.approvals(req["release_id"])}


def op_history(ctx: Context) -> Result:
    return {"deployments": ctx.state.deployments(int(ctx.request.get("limit", 50)))}


def op_set_release_status(ctx: Context) -> Result:
    ctx.state.set_release_status(ctx.request["release_id"], ctx.request["status"])
    return {}


def op_releases(ctx: Context) -> Result:
    state = ctx.state
    present = (
        {p.name for p in ctx.layout.releases.iterdir() if p.is_dir()}
        if ctx.layout.releases.exists()
        else set()
    )
    releases = [r for r in state.releases() if r["release_id"] in present]
    return {
        "releases": releases,
        "slots": state.slots(),
        "active_slot": state.get_meta("active_slot"),
    }


# status and logs ---------------------------------------------------------------------
def op_status(ctx: Context) -> Result:
    layout, state = ctx.layout, ctx.state
    if not layout.state_db.exists():
        return {"initialised": False}
    supervisor = ctx.supervisor
    supervisor_up = supervisor.is_running()
    active = state.get_meta("active_slot")
    slots = []
    for slot in SLOTS:
        row = state.slots().get(slot, {})
        process = supervisor.state(f"web-{slot}") if supervisor_up else "DOWN"
        health = None
        if process == "RUNNING":
            target = _slot_target(ctx, slot, row.get("release_id"))
            probe = probe_once(target, ctx.request.get("health_path", "/healthz"), 2.0, None)
            health = probe.to_json()
        slots.append(
            {
                "slot": slot,
                "release_id": row.get("release_id"),
                "state": row.get("state", "stopped"),
                "retire_at": row.get("retire_at"),
                "process": process,
                "workers": {
                    name: supervisor.state(f"{name}-{slot}") if supervisor_up else "DOWN"
                    for name in slot_workers(layout, slot)
                },
                "active": slot == active,
                "probe": health,
            }
        )
    nginx_state = supervisor.state("nginx") if supervisor_up else "DOWN"
    view = host_lock.read(state)
    running = [d for d in state.deployments(5) if d["outcome"] == "running"]
    return {
        "initialised": True,
        "active_slot": active,
        "active_release": state.get_meta("active_release"),
        "slots": slots,
        "supervisor": "RUNNING" if supervisor_up else "DOWN",
        "nginx": nginx_state,
        "lock": view.to_json() if view else None,
        "running_deployments": running,
    }


def op_logs(ctx: Context) -> Result:
    req, layout = ctx.request, ctx.layout
    slot = req.get("slot") or ctx.state.get_meta("active_slot") or "blue"
    path = layout.slot_log(slot)
    lines = tail(path, int(req.get("lines", 100)))
    if not req.get("follow"):
        return {"slot": slot, "lines": lines}
    for line in lines:
        print(line, flush=True)
    with path.open() if path.exists() else open(os.devnull) as handle:
        handle.seek(0, 2)
        while True:
            line = handle.readline()
            if line:
                print(line.rstrip("\n"), flush=True)
            else:
                time.sleep(0.2)


# prepare ------------------------------------------------------------------------------
def op_prepare(ctx: Context) -> Result:
    req = ctx.request
    artifact = Path(req["artifact"])
    try:
        return _prepare(ctx, artifact)
    finally:
        artifact.unlink(missing_ok=True)  # kept neither after success nor after a refusal


def _prepare(ctx: Context, artifact: Path) -> Result:
    req, layout, state = ctx.request, ctx.layout, ctx.state
    release_id, digest = req["release_id"], req["digest"]
    release_dir = layout.release_dir(release_id)
    if _prepared(release_dir, digest):
        state.record_release(release_id, digest, req["manifest"])
        return {"reused": True}
    resources = req.get("resources") or {}
    check_disk(
        layout.base,
        artifact.stat().st_size,
        float(resources.get("disk_per_artifact", 4.0)),
        int(resources.get("min_free_disk_mb", 0)),
    )
    verify_digest(artifact, digest)
    if release_dir.exists():
        shutil.rmtree(release_dir)
    tmp = layout.releases / f".{release_id}.unpacking"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        safe_unpack(artifact, tmp)
        (tmp / INCOMPLETE).touch()
        tmp.rename(release_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _link_shared(layout, release_dir, req["shared"])
        if req.get("build"):
            _run_step(
                ctx,
                "build",
                req["build"],
                release_dir,
                release_id,
                float(req["build_timeout"]),
                req["env_values"],
            )
        manifest = {**req["manifest"], "digest": digest}
        (release_dir / "release.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (release_dir / INCOMPLETE).unlink()
    except BaseException:
        shutil.rmtree(release_dir, ignore_errors=True)
        raise
    state.record_release(release_id, digest, req["manifest"])
    return {"reused": False}


def _prepared(release_dir: Path, digest: str) -> bool:
    manifest = release_dir / "release.json"
    if not manifest.exists() or (release_dir / INCOMPLETE).exists():
        return False
    try:
        return bool(json.loads(manifest.read_text()).get("digest") == digest)
    except ValueError:
        return False


def _link_shared(layout: Layout, release_dir: Path, shared: dict[str, list[str]]) -> None:
    for name in shared.get("dirs", []):
        target = layout.shared / name
        target.mkdir(parents=True, exist_ok=True)
        _replace_with_link(release_dir / name, target)
    for name in shared.get("files", []):
        target = layout.shared / name
        target.parent.mkdir(parents=True, exist_ok=True)
        seed = release_dir / name
        if not target.exists():
            if seed.is_file() and not seed.is_symlink():
                shutil.copy2(seed, target)
            else:
                target.touch()
        _replace_with_link(seed, target)


def _replace_with_link(path: Path, target: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def _run_step(
    ctx: Context,
    name: str,
    command: str,
    cwd: Path,
    release_id: str,
    timeout: float,
    env_values: dict[str, str],
) -> None:
    """Run a build or release command in the release, with the deploy's variables."""
    env = dict(os.environ) | env_values
    env |= {"SHIPYARD_RELEASE": release_id, "SHIPYARD_ENV": ctx.layout.env}
    log = ctx.layout.logs / f"{name}-{release_id}.log"
    with log.open("w") as out:
        try:
            result = subprocess.run(
                ["sh", "-c", command],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            code: int | None = result.returncode
        except subprocess.TimeoutExpired:
            code = None
    if code != 0:
        why = f"timed out after {timeout:g}s" if code is None else f"exited with status {code}"
        raise HostOpError(
            f"{name} command {why}: {command}",
            hint=f"full output in {log}",
            log_tail=tail(log, LOG_TAIL),
        )


def op_release_command(ctx: Context) -> Result:
    req = ctx.request
    release_id = req["release_id"]
    _run_step(
        ctx,
        "release",
        req["command"],
        ctx.layout.release_dir(release_id),
        release_id,
        float(req["timeout"]),
        req["env_values"],
    )
    return {}


def op_proxy(ctx: Context) -> Result:
    """Ensure supervisord runs, and nginx has this environment's config and is running."""
    req = ctx.request
    managed = req["proxy"]["mode"] == "managed"
    if req["proxy"]["listen_mode"] == "socket":
        _check_traversable(ctx.layout.run)
    started = ctx.supervisor.ensure(
        nginx_binary=req["proxy"]["binary"] if managed else None,
        drain_timeout=req["proxy"]["drain_timeout"],
        workers=tuple(req.get("workers", [])),
    )
    ports = req.get("ports") or [None, None]
    changed = ctx.nginx().apply(upstream_port=ports[0])
    return {"supervisor_started": started, "nginx_config_changed": changed}


def _check_traversable(path: Path) -> None:
    """nginx's workers run as an unprivileged user: every parent of run/ must let them in."""
    for parent in [path, *path.parents]:
        if not parent.stat().st_mode & 0o001:
            raise HostOpError(
                f"nginx's workers cannot reach the sockets in {path}: {parent} is not "
                "searchable by other users",
                hint=f"chmod o+x {parent}, or choose a `root` under a world-searchable directory",
            )


# boot, check, switch -------------------------------------------------------------------
def _slot_target(ctx: Context, slot: str, release_id: str | None) -> Target:
    spec_path = ctx.layout.slot_spec(slot)
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {"listen_mode": "socket"}
    if spec["listen_mode"] == "socket":
        return Target(socket=ctx.layout.slot_socket(slot))
    return Target(address=f"127.0.0.1:{spec['port']}")


def slot_workers(layout: Layout, slot: str) -> list[str]:
    """The worker types the slot was booted with (from its spec file)."""
    spec_path = layout.slot_spec(slot)
    if not spec_path.exists():
        return []
    return sorted(json.loads(spec_path.read_text()).get("workers", {}))


def stop_slot_processes(supervisor: Supervisor, layout: Layout, slot: str) -> None:
    for worker in slot_workers(layout, slot):
        supervisor.stop(f"{worker}-{slot}")
    supervisor.stop(f"web-{slot}")


def start_workers(supervisor: Supervisor, layout: Layout, slot: str) -> list[str]:
    started = []
    for worker in slot_workers(layout, slot):
        program = f"{worker}-{slot}"
        if supervisor.state(program) not in RUNNING_STATES:
            supervisor.refresh_program(program)
            supervisor.start(program)
            started.append(program)
    return started


def stop_workers(supervisor: Supervisor, layout: Layout, slot: str) -> None:
    for worker in slot_workers(layout, slot):
        supervisor.stop(f"{worker}-{slot}")


def op_boot(ctx: Context) -> Result:
    req, layout, state = ctx.request, ctx.layout, ctx.state
    release_id = req["release_id"]
    release_dir = layout.release_dir(release_id)
    if not release_dir.is_dir() or (release_dir / INCOMPLETE).exists():
        raise HostOpError(
            f"release {release_id} is not prepared on this host",
            hint="deploy it again (it was removed by cleanup, or its PREPARE failed)",
        )
    supervisor = ctx.supervisor
    with slot_guard(layout):
        active = state.get_meta("active_slot")
        slot = other_slot(active) if active else SLOTS[0]
        program = f"web-{slot}"
        stop_slot_processes(supervisor, layout, slot)
        active_info = supervisor.info(f"web-{active}") if active else None
        check_memory(
            int(active_info["pid"]) if active_info and active_info.get("pid") else None,
            int((req.get("resources") or {}).get("min_free_memory_mb", 0)),
        )
        ports = req["ports"]
        spec = {
            "release_id": release_id,
            "start": req["start"],
            "listen_mode": req["listen_mode"],
            "port": ports[SLOTS.index(slot)],
            "workers": req.get("workers", {}),
        }
        layout.slot_spec(slot).write_text(json.dumps(spec))
        write_env_file(layout.slot_env(slot), req["env_values"])
        layout.slot_socket(slot).unlink(missing_ok=True)
        with state.transaction() as db:
            state.set_slot(db, slot, release_id=release_id, state="booting")
        supervisor.refresh_program(program)
        supervisor.start(program)
        start_workers(supervisor, layout, slot)
    state.event("boot", {"slot": slot, "release_id": release_id})
    return {"slot": slot}


def op_check(ctx: Context) -> Result:
    req, layout, state = ctx.request, ctx.layout, ctx.state
    slot, release_id, health = req["slot"], req["release_id"], req["health"]
    supervisor = ctx.supervisor
    program = f"web-{slot}"

    def gave_up() -> str | None:
        process = supervisor.state(program)
        if process in ("FATAL", "EXITED", "STOPPED", "ABSENT"):
            return f"the process is {process} (it exited; see its log below)"
        return None

    verdict = wait_healthy(
        _slot_target(ctx, slot, release_id),
        path=health["path"],
        expected_status=health["status"],
        interval=health["interval"],
        timeout=health["timeout"],
        deadline=health["deadline"],
        threshold=health["healthy_threshold"],
        release_header=health.get("release_header"),
        expected_release=release_id,
        gave_up=gave_up,
    )
    probes = [p.to_json() for p in verdict.probes]
    if verdict.healthy:
        _check_workers(ctx, slot, release_id)
        _smoke(ctx, slot, release_id)
        if req["listen_mode"] == "socket":
            # nginx's workers run as another user: let them connect to this socket
            layout.slot_socket(slot).chmod(0o666)
        with state.transaction() as db:
            state.set_slot(db, slot, release_id=release_id, state="healthy")
        return {"healthy": True, "probes": probes[-3:]}
    log_tail = tail(layout.slot_log(slot), LOG_TAIL)
    stop_slot_processes(supervisor, layout, slot)
    with state.transaction() as db:
        state.set_slot(db, slot, release_id=release_id, state="failed")
    state.event("check-failed", {"slot": slot, "release_id": release_id, "reason": verdict.reason})
    raise HostOpError(
        f"release {release_id} never became healthy in slot {slot}: {verdict.reason}",
        hint=f"the old release kept serving; full log: {layout.slot_log(slot)}",
        probes=probes,
        log_tail=log_tail,
    )


def _check_workers(ctx: Context, slot: str, release_id: str) -> None:
    """Every worker must be ready before anything switches (all or nothing)."""
    req, layout = ctx.request, ctx.layout
    supervisor = ctx.supervisor
    for name, rules in sorted(req.get("workers", {}).items()):
        program = f"{name}-{slot}"
        deadline = time.monotonic() + float(rules["readiness_timeout"])
        reason = ""
        # (pid, first seen): a crash-looping worker changes pid and never stays up long enough
        watched: tuple[int, float] = (0, 0.0)
        while True:
            info = supervisor.info(program) or {}
            process = str(info.get("statename", "ABSENT"))
            if process in ("FATAL", "EXITED", "STOPPED", "ABSENT"):
                reason = f"the process is {process}"
                break
            if rules.get("readiness_command"):
                result = subprocess.run(
                    ["sh", "-c", rules["readiness_command"]],
                    cwd=layout.release_dir(release_id),
                    env=dict(os.environ)
                    | read_env_file(layout.slot_env(slot))
                    | {"SHIPYARD_RELEASE": release_id, "SHIPYARD_SLOT": slot},
                    capture_output=True,
                    timeout=max(1.0, deadline - time.monotonic()),
                    check=False,
                )
                if result.returncode == 0:
                    reason = ""
                    break
                reason = f"readiness command exited {result.returncode}"
            else:
                pid = int(info.get("pid") or 0)
                if process != "RUNNING" or pid != watched[0]:
                    watched = (pid, time.monotonic())
                elif time.monotonic() - watched[1] >= float(rules["ready_after"]):
                    reason = ""
                    break
                reason = f"not running for {rules['ready_after']:g}s without a restart ({process})"
            if time.monotonic() >= deadline:
                reason = f"not ready within {rules['readiness_timeout']:g}s: {reason}"
                break
            time.sleep(0.2)
        if reason:
            log_tail = tail(layout.slot_log(slot, name), LOG_TAIL)
            stop_slot_processes(supervisor, layout, slot)
            with ctx.state.transaction() as db:
                ctx.state.set_slot(db, slot, release_id=release_id, state="failed")
            raise HostOpError(
                f"worker {name} of release {release_id} is not ready in slot {slot}: {reason}",
                hint=f"nothing was switched; full log: {layout.slot_log(slot, name)}",
                log_tail=log_tail,
            )


def _smoke(ctx: Context, slot: str, release_id: str) -> None:
    """Pre-switch smoke checks against the new slot itself; a failure stops the slot."""
    req, layout = ctx.request, ctx.layout
    target = _slot_target(ctx, slot, release_id)
    failures = []
    for check in req.get("smoke", []):
        import httpx

        from shipyard.host.health import _client

        try:
            base = "http://slot" if target.socket else f"http://{target.address}"
            response = _client(target, 10.0).get(base + check["path"])
            if response.status_code != check["status"]:
                got, want = response.status_code, check["status"]
                failures.append(f"GET {check['path']} -> HTTP {got}, expected {want}")
            elif check.get("contains") and check["contains"] not in response.text:
                failures.append(f"GET {check['path']}: body does not contain {check['contains']!r}")
        except httpx.HTTPError as exc:
            failures.append(f"GET {check['path']}: {exc}")
    command = req.get("smoke_command")
    if command and not failures:
        env = (
            dict(os.environ)
            | read_env_file(layout.slot_env(slot))
            | {
                "SHIPYARD_RELEASE": release_id,
                "SHIPYARD_SLOT": slot,
                "SHIPYARD_SLOT_URL": "http://localhost"
                if target.socket
                else f"http://{target.address}",
            }
        )
        if target.socket:
            env["SHIPYARD_SLOT_SOCKET"] = str(target.socket)
        result = subprocess.run(
            ["sh", "-c", command],
            cwd=layout.release_dir(release_id),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-20:]
            failures.append(f"smoke command exited {result.returncode}: " + " | ".join(output))
    if failures:
        stop_slot_processes(ctx.supervisor, layout, slot)
        with ctx.state.transaction() as db:
            ctx.state.set_slot(db, slot, release_id=release_id, state="failed")
        raise HostOpError(
            f"release {release_id} failed its smoke checks in slot {slot}: " + "; ".join(failures),
            hint="nothing was switched; the old release kept serving",
            log_tail=tail(layout.slot_log(slot), LOG_TAIL),
        )


def op_switch(ctx: Context) -> Result:
    """Point nginx at `slot`: one atomic step on this host."""
    req, layout, state = ctx.request, ctx.layout, ctx.state
    slot = req["slot"]
    # no release given: switch back to whatever that slot runs (undoing a switch whose
    # reply was lost)
    release_id = req.get("release_id") or state.slots().get(slot, {}).get("release_id")
    supervisor = ctx.supervisor
    with slot_guard(layout):
        process = supervisor.state(f"web-{slot}")
        if process != "RUNNING":
            raise HostOpError(
                f"refusing to switch to slot {slot}: its process is {process}",
                hint="nothing was switched; run the deploy or rollback again",
            )
        previous = state.get_meta("active_slot")
        previous_release = state.get_meta("active_release")
        log_offset = layout.access_log.stat().st_size if layout.access_log.exists() else 0
        if previous == slot:
            return {
                "previous_slot": previous,
                "previous_release": previous_release,
                "noop": True,
                "log_offset": log_offset,
                "switched_at": time.time(),
            }
        nginx = ctx.nginx()
        # Going forward, the slot we leave is nginx's backup: it catches what the new one
        # fails. Going back (a rollback, an undone deploy) the slot we leave is the suspect:
        # it never becomes the backup.
        backup = None if req.get("retreat") or not previous else previous
        if req["listen_mode"] == "socket":
            layout.slot_socket(slot).chmod(0o666)
            nginx.point_at(layout.slot_socket(slot), layout.slot_socket(backup or slot))
        else:
            ports = req["ports"]
            nginx.point_at_port(
                ports[SLOTS.index(slot)], ports[SLOTS.index(backup)] if backup else None
            )
        # workers follow the traffic: one generation consumes jobs after the switch
        start_workers(supervisor, layout, slot)
        if previous:
            stop_workers(supervisor, layout, previous)
        if layout.slot_env(slot).exists():
            # what is serving now, for people running one-off commands on the host
            write_env_file(layout.env_file, read_env_file(layout.slot_env(slot)))
        retire_at = time.time() + float(req["rollback_window"])
        with state.transaction() as db:
            state.set_meta(db, "active_slot", slot)
            state.set_meta(db, "active_release", release_id)
            state.set_slot(db, slot, release_id=release_id, state="active")
            if previous:
                old = state.slots().get(previous, {})
                state.set_slot(
                    db,
                    previous,
                    release_id=old.get("release_id"),
                    state="warm",
                    retire_at=retire_at,
                )
    state.event("switch", {"slot": slot, "release_id": release_id, "previous_slot": previous})
    return {
        "previous_slot": previous,
        "previous_release": previous_release,
        "noop": False,
        "log_offset": log_offset,
        "switched_at": time.time(),
    }


def op_verify(ctx: Context) -> Result:
    req = ctx.request
    host, _, port = req["listen"].rpartition(":")
    wildcard = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "*": "127.0.0.1"}  # noqa: S104
    host = wildcard.get(host, host)
    names = [n for n in req.get("server_names", []) if n != "_" and "*" not in n]
    health = req["health"]
    verdict = wait_healthy(
        Target(address=f"{host}:{port}", host_header=names[0] if names else None),
        path=health["path"],
        expected_status=health["status"],
        interval=0.1,
        timeout=health["timeout"],
        deadline=float(req.get("deadline", 10.0)),
        threshold=1,
        release_header=health.get("release_header"),
        expected_release=req["release_id"],
    )
    probes = [p.to_json() for p in verdict.probes]
    if not verdict.healthy:
        raise HostOpError(
            f"through nginx at {host}:{port} the new release did not answer: {verdict.reason}",
            hint=f"check {ctx.layout.logs}/nginx-error.log",
            probes=probes,
        )
    return {"probes": probes[-1:]}


def op_observe_sample(ctx: Context) -> Result:
    """One interval of post-switch analysis on this host: real traffic and one probe."""
    from shipyard.plan.analysis import parse_access_line, summarise

    req, layout, state = ctx.request, ctx.layout, ctx.state
    offset = int(req["offset"])
    entries = []
    path = layout.access_log
    size = path.stat().st_size if path.exists() else 0
    if size < offset:
        offset = 0  # the log was rotated
    if size > offset:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read(size - offset)
        complete = data.rfind(b"\n") + 1  # leave a half-written last line for next time
        for raw in data[:complete].decode(errors="replace").splitlines():
            entry = parse_access_line(raw)
            if entry is not None:
                entries.append(entry)
        offset += complete
    active = state.get_meta("active_slot") or "blue"
    if req["listen_mode"] == "socket":
        new_upstream = f"unix:{layout.current_socket}"
    else:
        new_upstream = f"127.0.0.1:{req['ports'][SLOTS.index(active)]}"
    traffic = summarise(entries, new_upstream, float(req["since"]))
    host, _, port = req["listen"].rpartition(":")
    wildcard = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "*": "127.0.0.1"}  # noqa: S104
    health = req["health"]
    names = [n for n in req.get("server_names", []) if n != "_" and "*" not in n]
    probe = probe_once(
        Target(
            address=f"{wildcard.get(host, host)}:{port}", host_header=names[0] if names else None
        ),
        health["path"],
        health["timeout"],
        health.get("release_header"),
    )
    from shipyard.host.health import judge

    ok, detail = judge(probe, health["status"], req["release_id"])
    return {
        "offset": offset,
        "traffic": traffic.__dict__,
        "probe": {"ok": ok, "detail": f"{probe.describe()}: {detail}" if not ok else detail},
        "process": _worst_process(ctx, active),
    }


def _worst_process(ctx: Context, slot: str) -> str:
    """RUNNING if the slot's web process and all its workers run, else what is wrong."""
    supervisor = ctx.supervisor
    for name in ["web", *slot_workers(ctx.layout, slot)]:
        process = supervisor.state(f"{name}-{slot}")
        if process != "RUNNING":
            return process if name == "web" else f"{process} (worker {name})"
    return "RUNNING"


def op_repair(ctx: Context) -> Result:
    """Bring this host back to its recorded state: supervisord, nginx, the active slot.

    Used after a host restart (every process gone) and by `shipyard repair`. Slots left
    booting by an interrupted deploy are stopped; the active slot is started if it is
    down and waited on until healthy.
    """
    req, layout, state = ctx.request, ctx.layout, ctx.state
    actions: list[str] = []
    if not layout.state_db.exists():
        return {"actions": actions, "active_release": None}
    if state.get_meta("active_slot") is None and not ctx.supervisor.is_running():
        return {"actions": actions, "active_release": None}  # never deployed: nothing to repair
    # bring back what is configured on this host, exactly as it was: a repair never
    # applies new configuration (that is a deploy's job, with `nginx -t` and a record)
    supervisor = ctx.supervisor
    if not supervisor.is_running():
        if layout.supervisor_conf.exists():
            supervisor.start_existing()
        else:
            op_proxy(ctx)
        actions.append("started supervisord")
    nginx = ctx.nginx()
    if not nginx.is_running():
        if layout.server_conf.exists():
            nginx.start()
        else:
            nginx.apply(upstream_port=(req.get("ports") or [None])[0])
        actions.append("started nginx")
    active = state.get_meta("active_slot")
    with slot_guard(layout):
        for slot, row in state.slots().items():
            if slot == active or row["state"] == "warm":
                continue
            if supervisor.state(f"web-{slot}") in RUNNING_STATES:
                stop_slot_processes(supervisor, layout, slot)
                actions.append(f"stopped slot {slot} left {row['state']} by an interrupted deploy")
            if row["state"] != "stopped":
                with state.transaction() as db:
                    state.set_slot(db, slot, release_id=row["release_id"], state="stopped")
    if active and supervisor.state(f"web-{active}") not in RUNNING_STATES:
        supervisor.start(f"web-{active}")
        actions.append(f"started the active slot {active}")
    for slot in SLOTS:
        if slot != active:
            stop_workers(supervisor, layout, slot)
    if active:
        actions += [f"started worker {p}" for p in start_workers(supervisor, layout, active)]
    if active:
        health = req["health"]
        release = state.get_meta("active_release")
        verdict = wait_healthy(
            _slot_target(ctx, active, release),
            path=health["path"],
            expected_status=health["status"],
            interval=health["interval"],
            timeout=health["timeout"],
            deadline=health["deadline"],
            threshold=1,
            release_header=health.get("release_header"),
            expected_release=release,
        )
        if not verdict.healthy:
            raise HostOpError(
                f"the active release {release} is not healthy after repair: {verdict.reason}",
                hint=f"see {layout.slot_log(active)}",
                log_tail=tail(layout.slot_log(active), LOG_TAIL),
            )
        if req["proxy"]["listen_mode"] == "socket":
            layout.slot_socket(active).chmod(0o666)
    return {"actions": actions, "active_release": state.get_meta("active_release")}


def op_stop_slot(ctx: Context) -> Result:
    """Stop a slot that is not active (used to abort a deploy everywhere)."""
    req, layout, state = ctx.request, ctx.layout, ctx.state
    slot = req["slot"]
    with slot_guard(layout):
        if state.get_meta("active_slot") == slot:
            raise HostOpError(f"refusing to stop slot {slot}: it is serving traffic")
        stop_slot_processes(ctx.supervisor, layout, slot)
        row = state.slots().get(slot, {})
        with state.transaction() as db:
            state.set_slot(db, slot, release_id=row.get("release_id"), state="stopped")
    return {}


def op_retire(ctx: Context) -> Result:
    from shipyard.host.reaper import retire_due

    return {"retired": retire_due(ctx.layout, time.time() + float(ctx.request.get("ahead", 0)))}


def op_cleanup(ctx: Context) -> Result:
    layout, state = ctx.layout, ctx.state
    keep = int(ctx.request["keep"])
    protected = {row["release_id"] for row in state.slots().values() if row["release_id"]}
    protected |= set(ctx.request.get("protect", []))
    known = {r["release_id"]: r["prepared_at"] for r in state.releases()}
    bad = {r["release_id"] for r in state.releases() if r["status"] == "bad"}
    dirs = [p for p in layout.releases.iterdir() if p.is_dir() and not p.name.startswith(".")]
    # newest first, and releases that failed count last: they never push out a good one
    dirs.sort(key=lambda p: (p.name not in bad, known.get(p.name, p.stat().st_mtime)), reverse=True)
    removed = []
    for path in dirs[keep:]:
        if path.name in protected:
            continue
        shutil.rmtree(path, ignore_errors=True)
        state.forget_release(path.name)
        removed.append(path.name)
    for stale in layout.releases.glob(".*.unpacking"):
        shutil.rmtree(stale, ignore_errors=True)
    for part in layout.uploads.glob("*.part"):  # uploads cut short by a dropped link
        part.unlink(missing_ok=True)
    return {"removed": removed}


def op_shutdown(ctx: Context) -> Result:
    """Stop everything this environment runs on the host (apps, its nginx, supervisord)."""
    ctx.supervisor.shutdown()
    return {}


OPS: dict[str, Callable[[Context], Result]] = {
    "hello": op_hello,
    "lock": op_lock,
    "record": op_record,
    "history": op_history,
    "approval": op_approval,
    "releases": op_releases,
    "set-release-status": op_set_release_status,
    "status": op_status,
    "logs": op_logs,
    "prepare": op_prepare,
    "release-command": op_release_command,
    "proxy": op_proxy,
    "boot": op_boot,
    "check": op_check,
    "switch": op_switch,
    "verify": op_verify,
    "stop-slot": op_stop_slot,
    "observe-sample": op_observe_sample,
    "repair": op_repair,
    "retire": op_retire,
    "cleanup": op_cleanup,
    "shutdown": op_shutdown,
}


def run_op(name: str, request: Request) -> Result:
    """Run one operation; always return a JSON-able result with `ok`."""
    if name not in OPS:
        return {
            "ok": False,
            "error": f"unknown host operation {name!r}",
            "hint": "upgrade shipyard on this host",
        }
    try:
        result = OPS[name](Context(request))
    except HostOpError as exc:
        return {"ok": False, "error": exc.message, "hint": exc.hint, **exc.evidence}
    except OSError as exc:
        return {
            "ok": False,
            "error": f"{name}: {exc}",
            "hint": "check permissions and free disk on this host",
        }
    except Exception as exc:  # a bug: still answer in the protocol, with what happened
        import traceback

        return {
            "ok": False,
            "error": f"{name}: internal error {type(exc).__name__}: {exc}",
            "hint": "this is a Shipyard bug; please report it with the trace above",
            "log_tail": traceback.format_exc().splitlines()[-15:],
        }
    return {"ok": True, **result}


def serve() -> int:
    """Answer one JSON request per stdin line with one JSON result line, until EOF.

    The protocol owns the real stdout; anything else that writes to fd 1 (a child
    process, a stray print) is sent to stderr so it can never corrupt a reply.
    """
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        try:
            message = json.loads(line)
            result = run_op(message["op"], message["request"])
        except (ValueError, KeyError, TypeError):
            result = {"ok": False, "error": "malformed request line"}
        protocol.write(json.dumps(result, default=str) + "\n")
    return 0


def main(name: str, request_text: str | None) -> int:
    if name == "serve":
        return serve()
    text = request_text if request_text is not None else sys.stdin.read()
    try:
        request = json.loads(text)
    except ValueError:
        print(json.dumps({"ok": False, "error": "the request is not valid JSON"}))
        return 2
    result = run_op(name, request)
    print(json.dumps(result, default=str), flush=True)
    return 0 if result["ok"] else 1
