"""Pure builders: what each host operation is asked, from config and a release.

Like Kamal's command builders, these return plain typed values and do no I/O, so tests
can assert exactly what a host would be told. Every default a host operation uses comes
from here, that is from the config model: the host side has none of its own.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.config.model import Environment, HostEntry, HttpCheck
from shipyard.plan.layout import Layout
from shipyard.protocol.common import ReleaseManifest
from shipyard.protocol.inspect import LogsRequest, StatusRequest
from shipyard.protocol.op import Scope
from shipyard.protocol.records import HelloRequest

if TYPE_CHECKING:
    # each operation's own types load with the first request built for it (start-up:
    # `status` never loads the deploy phases'; docs/benchmarks-speed.md)
    from shipyard.protocol.boot import BootRequest, CheckRequest
    from shipyard.protocol.maintenance import RepairRequest
    from shipyard.protocol.observe import ObserveSampleRequest
    from shipyard.protocol.prepare import PrepareRequest, ProxyRequest, ReleaseCommandRequest
    from shipyard.protocol.specs import HealthSpec, HttpCheckSpec, ProxySpec, TlsSpec
    from shipyard.protocol.switch import SwitchRequest, VerifyRequest


def host_argv(env: Environment, host: HostEntry, op: str) -> list[str]:
    """The argv that runs a host operation. Local hosts run this very installation."""
    if host.is_local:
        return [sys.executable, "-m", "shipyard.host", op]
    return [*shlex.split(env.shipyard_command), "host", op]


def scope(env: Environment, host: HostEntry) -> Scope:
    return Scope(root=env.root_for(host), app=env.app, env=env.name)


def layout(env: Environment, host: HostEntry) -> Layout:
    return Layout(Path(env.root_for(host)), env.app, env.name)


def hello(version: str, protocol: int) -> HelloRequest:
    return HelloRequest(operator_version=version, protocol=protocol)


def proxy_spec(env: Environment, host: HostEntry) -> ProxySpec:
    from shipyard.protocol.specs import ProxySpec

    return ProxySpec(
        mode=env.nginx.mode,
        binary=env.nginx.binary,
        listen=env.listen_for(host),
        server_names=list(env.nginx.server_names),
        client_max_body_size=env.nginx.client_max_body_size,
        listen_mode=env.listen_mode,
        include_dir=env.nginx.include_dir,
        worker_user=env.nginx.worker_user,
        pid_file=env.nginx.pid_file,
        drain_timeout=env.drain_timeout,
        local_host=host.is_local,
        tls=tls_spec(env, host),
    )


def tls_spec(env: Environment, host: HostEntry) -> TlsSpec | None:
    """nginx's HTTPS server (None: `tls.mode: off`); the health path stays plain HTTP, so
    VERIFY, the analysis and a load balancer's checks reach it without a certificate."""
    from shipyard.protocol.specs import TlsSpec

    tls = env.tls
    if not tls.enabled:
        return None
    address = env.listen_for(host).rsplit(":", 1)[0]
    return TlsSpec(
        listen=f"{address}:{tls.port}",
        hsts=tls.hsts.header() if tls.hsts else None,
        plain_paths=[env.health.path],
    )


def health(env: Environment, *, threshold: int | None = None) -> HealthSpec:
    from shipyard.protocol.specs import HealthSpec

    h = env.health
    return HealthSpec(
        path=h.path,
        status=h.status,
        interval=h.interval,
        timeout=h.timeout,
        deadline=h.deadline,
        healthy_threshold=h.healthy_threshold if threshold is None else threshold,
        release_header=h.release_header,
    )


def http_check(check: HttpCheck) -> HttpCheckSpec:
    from shipyard.protocol.specs import HttpCheckSpec

    return HttpCheckSpec(
        path=check.path,
        status=check.status,
        contains=check.contains,
        json_path=check.json_path,
        equals=check.equals,
    )


def prepare(
    env: Environment,
    host: HostEntry,
    *,
    manifest: ReleaseManifest,
    digest: str,
    env_values: dict[str, str],
    runtime: dict[str, Any] | None = None,
) -> PrepareRequest:
    from shipyard.protocol.prepare import PrepareRequest, SharedPaths

    return PrepareRequest(
        release_id=manifest.release_id,
        digest=digest,
        artifact=str(layout(env, host).upload_path(manifest.release_id)),
        manifest=manifest,
        env_values=env_values,
        shared=SharedPaths(dirs=list(env.shared.dirs), files=list(env.shared.files)),
        build=env.build,
        build_timeout=env.build_timeout,
        min_free_disk_mb=env.resources.min_free_disk_mb,
        disk_per_artifact=env.resources.disk_per_artifact,
        runtime=runtime,
        build_cache=[product.spec() for product in env.build_cache.products],
    )


def proxy(env: Environment, host: HostEntry) -> ProxyRequest:
    """The `proxy` operation: supervisord with this env's programs, nginx with its config."""
    from shipyard.protocol.prepare import ProxyRequest

    return ProxyRequest(proxy=proxy_spec(env, host), ports=env.ports, workers=sorted(env.workers))


def release_command(
    env: Environment, release_id: str, env_values: dict[str, str]
) -> ReleaseCommandRequest:
    from shipyard.protocol.prepare import ReleaseCommandRequest

    assert env.release_command is not None
    return ReleaseCommandRequest(
        release_id=release_id,
        command=env.release_command,
        timeout=env.release_command_timeout,
        env_values=env_values,
    )


def boot(env: Environment, release_id: str, env_values: dict[str, str]) -> BootRequest:
    from shipyard.protocol.boot import BootRequest

    return BootRequest(
        release_id=release_id,
        env_values=env_values,
        start=env.start,
        listen_mode=env.listen_mode,
        ports=env.ports,
        workers={name: worker.command for name, worker in env.workers.items()},
        min_free_memory_mb=env.resources.min_free_memory_mb,
    )


def check(env: Environment, slot: str, release_id: str, *, warm: bool = False) -> CheckRequest:
    """Health until healthy; then, for a new boot, workers and the pre-switch checks.

    A warm slot (a rollback inside the window) has passed all of that already: one
    healthy probe is enough.
    """
    from shipyard.protocol.boot import CheckRequest, PreSwitchChecks, WorkerReadiness

    checks = env.pre_switch
    return CheckRequest(
        slot=slot,
        release_id=release_id,
        health=health(env, threshold=1 if warm else None),
        listen_mode=env.listen_mode,
        workers={}
        if warm
        else {
            name: WorkerReadiness(
                readiness_command=w.readiness_command,
                ready_after=w.ready_after,
                readiness_timeout=w.readiness_timeout,
            )
            for name, w in env.workers.items()
        },
        pre_switch=PreSwitchChecks(
            http=[] if warm else [http_check(c) for c in checks.http],
            command=None if warm else checks.command,
            command_timeout=checks.command_timeout,
        ),
        app_env=dict(env.env),
    )


def check_timeout(env: Environment) -> float:
    """How long the operator waits for a `check` reply: health, workers, pre-switch checks."""
    readiness = max((w.readiness_timeout for w in env.workers.values()), default=0.0)
    return env.health.deadline + readiness + env.pre_switch.command_timeout + 60


def retire_window(env: Environment, observe_window: float | None = None) -> float:
    """How long the old slot stays warm: the rollback window, and never less than the
    post-switch analysis (and smoke tests) need to switch back to it."""
    window = env.observe.window if observe_window is None else observe_window
    needed = 0.0
    if window and env.auto_rollback:
        needed = window + 2 * env.observe.interval + 5
    if env.smoke_tests.http or env.smoke_tests.commands:
        needed += env.smoke_tests.command_timeout + 30
    return max(env.rollback_window, needed)


def switch(
    env: Environment,
    host: HostEntry,
    slot: str,
    release_id: str | None,
    observe_window: float | None = None,
    *,
    retreat: bool = False,
) -> SwitchRequest:
    from shipyard.protocol.switch import SwitchRequest

    return SwitchRequest(
        slot=slot,
        release_id=release_id,
        listen_mode=env.listen_mode,
        ports=env.ports,
        rollback_window=retire_window(env, observe_window),
        retreat=retreat,
        proxy=proxy_spec(env, host),
    )


def verify_deadline(env: Environment) -> float:
    """How long VERIFY waits for nginx to answer from the new release."""
    return max(5.0, env.health.timeout * 3)


def verify(env: Environment, host: HostEntry, release_id: str) -> VerifyRequest:
    from shipyard.protocol.switch import VerifyRequest

    return VerifyRequest(
        listen=env.listen_for(host),
        server_names=list(env.nginx.server_names),
        health=health(env),
        release_id=release_id,
        deadline=verify_deadline(env),
    )


def observe_sample(
    env: Environment, host: HostEntry, release_id: str, offset: int, since: float
) -> ObserveSampleRequest:
    from shipyard.protocol.observe import ObserveSampleRequest

    return ObserveSampleRequest(
        offset=offset,
        since=since,
        release_id=release_id,
        listen=env.listen_for(host),
        listen_mode=env.listen_mode,
        ports=env.ports,
        health=health(env),
        server_names=list(env.nginx.server_names),
    )


def repair(env: Environment, host: HostEntry) -> RepairRequest:
    from shipyard.protocol.maintenance import RepairRequest

    return RepairRequest(
        proxy=proxy_spec(env, host),
        ports=env.ports,
        health=health(env),
        workers=sorted(env.workers),
    )


def status(env: Environment, *, probe: bool = True) -> StatusRequest:
    """`probe`: also probe each running slot's health path (for people; a rollback
    decides from the recorded states and checks its target slot itself)."""
    return StatusRequest(health_path=env.health.path, probe=probe)


def logs(slot: str | None, lines: int, follow: bool = False) -> LogsRequest:
    return LogsRequest(slot=slot, lines=lines, follow=follow)
