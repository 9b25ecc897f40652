"""The environment's nginx: write config safely, start or reload it, switch traffic."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from shipyard.core.files import atomic_symlink, atomic_write, read_text_or_none
from shipyard.host import nginx_workers
from shipyard.host.errors import HostOpError
from shipyard.host.routes import legacy_route, read_route, set_route
from shipyard.host.slots import read_spec
from shipyard.host.supervisor import Supervisor
from shipyard.host.tls_site import https_parts
from shipyard.plan.layout import SLOTS, Layout
from shipyard.plan.nginx_conf import (
    MainConfig,
    ServerBlock,
    render_main,
    render_server,
)
from shipyard.protocol.specs import ProxySpec

RELOAD_DEADLINE = 10.0  # seconds for a reload's new workers to take over


class Nginx:
    def __init__(self, layout: Layout, settings: ProxySpec) -> None:
        self.layout = layout
        self.settings = settings
        self.supervisor = Supervisor(layout)

    @property
    def managed(self) -> bool:
        return self.settings.mode == "managed"

    def _nginx_argv(self, *extra: str) -> list[str]:
        if self.managed:
            return [
                self.settings.binary,
                "-p",
                f"{self.layout.proxy}/",
                "-c",
                str(self.layout.nginx_conf),
                *extra,
            ]
        return [self.settings.binary, *extra]

    def test_config(self) -> None:
        result = subprocess.run(
            self._nginx_argv("-t", "-q"), capture_output=True, text=True, timeout=30, check=False
        )
        if result.returncode != 0:
            raise HostOpError(
                "nginx -t rejected the configuration: " + result.stderr.strip()[-800:],
                hint="the previous configuration was restored and nothing was switched",
            )

    def desired_files(self, ports: tuple[int, int]) -> dict[Path, str]:
        layout, s = self.layout, self.settings
        files = {
            layout.server_conf: render_server(
                ServerBlock(
                    app=layout.app,
                    env=layout.env,
                    listen=s.listen,
                    server_names=tuple(s.server_names),
                    client_max_body_size=s.client_max_body_size,
                    access_log=layout.access_log,
                    listen_mode=s.listen_mode,
                    current_socket=layout.current_socket,
                    previous_socket=layout.previous_socket,
                    route_link=layout.route_link,
                    ports=ports,
                    **https_parts(layout, s),
                )
            )
        }
        if self.managed:
            files[layout.nginx_conf] = render_main(
                MainConfig(
                    proxy_dir=layout.proxy,
                    pid_file=layout.nginx_pid,
                    error_log=layout.logs / "nginx-error.log",
                    server_conf=layout.server_conf,
                    worker_user=s.worker_user,
                    worker_shutdown_timeout=max(s.drain_timeout, 10.0),
                )
            )
        return files

    def apply(self, ports: tuple[int, int]) -> bool:
        """Make nginx's config what it should be and nginx running; True if it changed.

        A new config passes `nginx -t` or the old files are put back and nothing else moves.
        In tcp mode the route link is made first (the route an older upstream file named,
        else the first slot's), so nginx always finds one.
        """
        files = self.desired_files(ports)
        tcp = self.settings.listen_mode == "tcp"
        if tcp and read_route(self.layout) is None:
            legacy = legacy_route(self.layout, dict(zip(ports, SLOTS, strict=True)))
            set_route(self.layout, *(legacy or (SLOTS[0], SLOTS[0])))
        changed = {path: text for path, text in files.items() if read_text_or_none(path) != text}
        (self.layout.proxy / "tmp").mkdir(exist_ok=True)
        linked = self._link_into_system()  # before the test, so `nginx -t` covers it
        if changed or linked:
            backups = {path: read_text_or_none(path) for path in changed}
            for path, text in changed.items():
                atomic_write(path, text)
            try:
                self.test_config()
            except HostOpError:
                for path, old in backups.items():
                    if old is None:
                        path.unlink(missing_ok=True)
                    else:
                        atomic_write(path, old)
                if linked:
                    self._system_link().unlink(missing_ok=True)
                raise
        if not self.is_running():
            self.start()
        elif changed or linked:
            self.reload()
        if tcp:
            self.layout.upstream_conf.unlink(missing_ok=True)  # from before routes
        return bool(changed or linked)

    def _system_link(self) -> Path:
        name = f"shipyard-{self.layout.app}-{self.layout.env}.conf"
        return Path(self.settings.include_dir or "/nonexistent") / name

    def _link_into_system(self) -> bool:
        """Link the server block into the system nginx's include dir; True if newly linked."""
        if self.managed or not self.settings.include_dir:
            return False
        link = self._system_link()
        if link.is_symlink() and link.resolve() == self.layout.server_conf.resolve():
            return False
        atomic_symlink(self.layout.server_conf, link)
        return True

    def is_running(self) -> bool:
        if self.managed:
            return self.supervisor.state("nginx") in ("STARTING", "RUNNING")
        return _pid_from(Path(self.settings.pid_file)) is not None

    def start(self) -> None:
        """Start nginx; if it exits instead, fail at once with the reason it logged."""
        logs = self._start_logs()
        offsets = {path: _size(path) for path in logs}
        if self.managed:
            before = self.supervisor.info("nginx") or {}
            self.supervisor.start("nginx")
            self._wait_for_pid(offsets, int(before.get("stop") or 0))
        else:
            result = subprocess.run(
                [self.settings.binary], capture_output=True, text=True, timeout=30, check=False
            )
            if result.returncode != 0:
                lines = result.stderr.splitlines() or _new_lines(offsets)
                raise self._start_failure(lines, fallback=result.stderr.strip()[-500:])

    def _start_logs(self) -> list[Path]:
        """Where nginx writes why it failed: its error log, then its stderr (managed)."""
        if not self.managed:
            return []
        logs = self.layout.logs
        return [logs / "nginx-error.log", logs / "nginx-stdout.log"]

    def _wait_for_pid(self, offsets: dict[Path, int], stopped_before: int) -> None:
        """Until nginx has written its pid file (it is up), or has exited (it never will).

        supervisord restarts an nginx that exits (autorestart), so an exit is seen in its
        last stop time (`stopped_before`: the one before this start) even when a new try
        is already running; nginx is then stopped, so that it does not try again and
        again behind the error.
        """
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _pid_from(self.layout.nginx_pid) is not None:
                return
            info = self.supervisor.info("nginx") or {}
            exited = int(info.get("stop") or 0) > stopped_before
            if exited or info.get("statename") in _EXITED:
                self.supervisor.stop_at_once("nginx")
                raise self._start_failure(_new_lines(offsets))
            time.sleep(0.05)
        raise HostOpError(
            "nginx did not come up within 10 s and logged no reason",
            hint=f"see {self.layout.logs}/nginx-error.log and nginx-stdout.log",
        )

    def _start_failure(self, lines: list[str], fallback: str = "") -> HostOpError:
        from shipyard.host.listeners import address_use, split_listen
        from shipyard.host.nginx_failure import explain, reason

        failure = reason(lines)
        use = None
        target = split_listen(failure.bind_address) if failure.bind_address else None
        if target is not None:
            use = address_use(*target)
        where = (
            f"see {self.layout.logs}/nginx-error.log and nginx-stdout.log"
            if self.managed
            else "see the system nginx's error log (journalctl -u nginx, /var/log/nginx/)"
        )
        message, hint = explain(failure, use, where, is_root=os.geteuid() == 0)
        if not failure.reasons and fallback:
            message = f"nginx did not start: {fallback}"
        return HostOpError(message, hint=hint, log_tail=lines[-20:])

    def reload(self) -> None:
        """Reload gracefully and return once new connections meet only the new
        configuration: the previous workers stopped accepting (host/nginx_workers.py)."""
        pid_file = self.layout.nginx_pid if self.managed else Path(self.settings.pid_file)
        master = nginx_workers.master_pid(pid_file)
        before = nginx_workers.accepting(nginx_workers.workers(master)) if master else set()
        result = subprocess.run(
            self._nginx_argv("-s", "reload"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise HostOpError("nginx reload failed: " + result.stderr.strip()[-500:])
        if master is None or not before:
            return  # no workers seen (no pid file readable): nothing to wait for
        if not nginx_workers.wait_for_new_generation(master, before, RELOAD_DEADLINE):
            where = (
                f"{self.layout.logs}/nginx-error.log"
                if self.managed
                else "the system nginx's error log (journalctl -u nginx, /var/log/nginx/)"
            )
            raise HostOpError(
                f"nginx did not replace its workers within {RELOAD_DEADLINE:g} s of a "
                "reload: the previous configuration may still serve",
                hint=f"see {where}; then run `shipyard repair`",
            )

    def point_at(self, slot_socket: Path, backup_socket: Path) -> None:
        """Socket mode switch: one rename each; no reload, no dropped connection."""
        atomic_symlink(backup_socket, self.layout.previous_socket)
        atomic_symlink(slot_socket, self.layout.current_socket)

    def route_to(self, slot: str, backup: str) -> None:
        """TCP mode switch: rename a new route link; no reload (docs/switching.md)."""
        set_route(self.layout, slot, backup)


# supervisord's states of a program that is not running (or is between two tries)
_EXITED = {"BACKOFF", "EXITED", "FATAL", "STOPPED", "UNKNOWN"}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _new_lines(offsets: dict[Path, int]) -> list[str]:
    """The lines written to each log since `offsets` (the first log that has any)."""
    for path, offset in offsets.items():
        try:
            with path.open("rb") as handle:
                if _size(path) < offset:  # rotated or truncated meanwhile
                    offset = 0
                handle.seek(offset)
                text = handle.read(256 * 1024).decode("utf-8", "replace")
        except OSError:
            continue
        if text.strip():
            return text.splitlines()
    return []


def _pid_from(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def points_at(layout: Layout) -> str | None:
    """The slot nginx sends traffic to, read from what it was given: the socket symlink,
    or in tcp mode the route link (None: none)."""
    link = layout.current_socket
    if link.is_symlink():
        name = Path(os.readlink(link)).name
        return next((slot for slot in SLOTS if name == f"{slot}.sock"), None)
    route = read_route(layout)
    if route is not None:
        return route[0]
    # an upstream file from before routes, until the next deploy's PREPARE replaces it
    specs = {slot: read_spec(layout, slot) for slot in SLOTS}
    legacy = legacy_route(layout, {s.port: slot for slot, s in specs.items() if s is not None})
    return legacy[0] if legacy else None
