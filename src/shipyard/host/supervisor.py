"""Drive the environment's supervisord: start it when absent, start and stop programs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from shipyard.core.files import atomic_write
from shipyard.host.errors import HostOpError
from shipyard.plan.layout import Layout
from shipyard.plan.supervisor_conf import SupervisorConfig, render

RUNNING_STATES = {"STARTING", "RUNNING", "BACKOFF"}


class Supervisor:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _proxy(self) -> Any:
        from supervisor.xmlrpc import SupervisorTransport  # lazy: host start-up time

        transport = SupervisorTransport(
            None, None, serverurl=f"unix://{self.layout.supervisor_socket}"
        )
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def is_running(self) -> bool:
        if not self.layout.supervisor_socket.exists():
            return False
        try:
            return bool(self._proxy().supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False

    def ensure(
        self, *, nginx_binary: str | None, drain_timeout: float, workers: tuple[str, ...] = ()
    ) -> bool:
        """Write the config; start supervisord if it is not running. True if it was started."""
        text = render(
            SupervisorConfig(
                layout=self.layout,
                python=sys.executable,
                nginx_binary=nginx_binary,
                drain_timeout=drain_timeout,
                workers=workers,
            )
        )
        conf = self.layout.supervisor_conf
        changed = not conf.exists() or conf.read_text() != text
        if changed:
            atomic_write(conf, text, mode=0o600)
        if self.is_running():
            if changed:
                self._apply_config_change()
            return False
        self._start()
        return True

    def start_existing(self) -> None:
        """Start supervisord with the config already on disk (after a host restart)."""
        self._start()

    def _start(self) -> None:
        self.layout.supervisor_socket.unlink(missing_ok=True)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "supervisor.supervisord",
                "-c",
                str(self.layout.supervisor_conf),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise HostOpError(
                "supervisord did not start: " + (result.stderr or result.stdout).strip()[-500:],
                hint=f"see {self.layout.logs}/supervisord.log",
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.05)
        raise HostOpError(
            "supervisord started but its socket never answered",
            hint=f"see {self.layout.logs}/supervisord.log",
        )

    def _apply_config_change(self) -> None:
        """Reload the config; re-create changed programs that are not running now.

        A running slot keeps its old settings until it is next stopped: a deploy must never
        restart the slot that is serving traffic.
        """
        proxy = self._proxy()
        added, changed, removed = proxy.supervisor.reloadConfig()[0]
        for name in removed:
            if self.state(name) not in RUNNING_STATES:
                proxy.supervisor.removeProcessGroup(name)
        for name in changed:
            if self.state(name) not in RUNNING_STATES:
                proxy.supervisor.removeProcessGroup(name)
                proxy.supervisor.addProcessGroup(name)
        for name in added:
            proxy.supervisor.addProcessGroup(name)

    def refresh_program(self, name: str) -> None:
        """Bring a stopped program's definition up to date with the config file."""
        proxy = self._proxy()
        _, changed, _ = proxy.supervisor.reloadConfig()[0]
        if name in changed and self.state(name) not in RUNNING_STATES:
            proxy.supervisor.removeProcessGroup(name)
            proxy.supervisor.addProcessGroup(name)

    def info(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._proxy().supervisor.getProcessInfo(name))
        except xmlrpc.client.Fault:
            return None
        except OSError:
            return None

    def state(self, name: str) -> str:
        info = self.info(name)
        return "ABSENT" if info is None else str(info["statename"])

    def start(self, name: str) -> None:
        try:
            self._proxy().supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise HostOpError(
                    f"supervisord could not start {name}: {fault.faultString}"
                ) from None

    def stop(self, name: str) -> None:
        try:
            self._proxy().supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise HostOpError(
                    f"supervisord could not stop {name}: {fault.faultString}"
                ) from None
        except OSError:
            return

    def stop_at_once(self, name: str) -> None:
        """Stop a program that is failing anyway: SIGKILL, not its stop signal, and no restart.

        For a process that never came up (nginx retrying bind(), which ignores its stop
        signal until it gives up): marking it stopping first keeps supervisord from
        starting it again when it dies.
        """
        try:
            self._proxy().supervisor.stopProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" in fault.faultString:
                return
            raise HostOpError(f"supervisord could not stop {name}: {fault.faultString}") from None
        except OSError:
            return
        pid = int((self.info(name) or {}).get("pid") or 0)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.state(name) == "STOPPING":
            time.sleep(0.05)

    def shutdown(self) -> None:
        if not self.is_running():
            return
        pid_file = self.layout.run / "supervisord.pid"
        try:
            self._proxy().supervisor.shutdown()
        except (OSError, xmlrpc.client.Fault):
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pid_file.exists():
            time.sleep(0.05)


def tail(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log file (reads only the end of big files)."""
    if lines <= 0 or not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        block = min(size, max(8192, lines * 400))
        handle.seek(size - block)
        data = handle.read().decode("utf-8", errors="replace")
    return data.splitlines()[-lines:]
