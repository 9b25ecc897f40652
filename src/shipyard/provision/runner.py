"""The pyinfra subprocess of `shipyard setup`: a JSON plan in, JSON lines out.

stdin: the plan (`plan/setup_plan.py: plan_json`, plus `ssh`: known_hosts, key, config).
stdout: one JSON object per line, each `{"host", "step", "status", ...}` with status
`running`, `changed`, `unchanged`, `would-change` (with `--check`: `check: true`), or
`failed` (with `output`: the failing command's last lines); `{"host", "step",
"public_key"}` for each `keygen` key that is there after the run; then `{"done": true}`.
Everything pyinfra logs goes to stderr. Host keys: strict (`StrictHostKeyChecking=yes`)
against exactly the known_hosts file Shipyard's own transport uses; never accept-new.
"""

from __future__ import annotations

# ruff: noqa: E402  (gevent patches the process before anything else is imported)
from gevent import monkey  # type: ignore[import-untyped]  # before anything opens a socket: pyinfra runs on gevent

monkey.patch_all()

import io
import json
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from pyinfra.api.config import Config
from pyinfra.api.connect import connect_all
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.inventory import Inventory
from pyinfra.api.operation import add_op, operation
from pyinfra.api.operations import run_ops
from pyinfra.api.state import BaseStateCallback, State
from pyinfra.context import ctx_host, ctx_state
from pyinfra.context import host as current_host
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File, FileContents
from pyinfra.facts.server import Home
from pyinfra.operations import apt, files, pip, server, systemd

from shipyard.provision.services import systemd_service_arguments

_OUTPUT_LINES = 30
# (host name, op hash) -> the operations whose change it runs after (`when_changed`);
# a dry run cannot evaluate pyinfra's `_if`, so it asks whether those would change
CONDITIONS: dict[tuple[str, str], list[Any]] = {}


@operation()
def unpack(archive: str, dest: str, digest: str) -> Any:
    """Unpack a tar into dest once per content: a marker named by its digest, written
    last, says it is whole, so a run interrupted half-way unpacks it again, and a whole
    one is left alone."""
    marker = f"{dest}/.unpacked-{digest[:16]}"
    if current_host.get_fact(File, path=marker):
        return
    temp = f"{dest}.partial"
    yield (
        f"rm -rf {shlex.quote(temp)} && mkdir -p {shlex.quote(temp)} && "
        f"tar -xf {shlex.quote(archive)} -C {shlex.quote(temp)} && "
        f"touch {shlex.quote(temp)}/.unpacked-{digest[:16]} && rm -rf {shlex.quote(dest)} && "
        f"mv {shlex.quote(temp)} {shlex.quote(dest)}"
    )


@operation()
def keygen(path: str, user: str, comment: str) -> Any:
    """An ed25519 key at path (no passphrase: a service uses it), made on the host and
    owned by user, once: a key that is there is kept."""
    if current_host.get_fact(File, path=path) and current_host.get_fact(File, path=f"{path}.pub"):
        return
    key = shlex.quote(path)
    yield (
        f"rm -f {key} {key}.pub && ssh-keygen -q -t ed25519 -N '' -C {shlex.quote(comment)} "
        f"-f {key} && chown {shlex.quote(user)}: {key} {key}.pub && chmod 600 {key}"
    )


# a private directory of the setup user for uploads that sudo then copies into place:
# pyinfra's default is /tmp, where another user could read a secret in between
SECRET_UPLOADS = ".cache/shipyard-setup"  # noqa: S105  (a directory, not a password)


@dataclass
class _Slot:
    """Where one added operation belongs: its host, step and place in the step."""

    label: str
    step: str
    first: bool
    last: bool


class _Events:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def emit(self, **event: Any) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()


class _Progress(BaseStateCallback):
    """Turns pyinfra's per-operation callbacks into per-step events."""

    def __init__(self, events: _Events, slots: dict[tuple[str, str], _Slot]) -> None:
        self.events = events
        self.slots = slots  # (host name, op hash) -> slot
        self.changed: dict[tuple[str, str], bool] = {}

    def host_connect_error(self, state: State, host: Any, error: Any) -> None:  # type: ignore[override]
        self.events.emit(
            host=host.data.get("label", host.name),
            step="connect",
            status="failed",
            output=[str(error)],
        )

    def operation_host_start(self, state: State, host: Any, op_hash: str) -> None:  # type: ignore[override]
        slot = self.slots.get((host.name, op_hash))
        if slot is not None and slot.first:
            self.events.emit(host=slot.label, step=slot.step, status="running")

    def operation_end(self, state: State, op_hash: str) -> None:  # type: ignore[override]
        for (name, op), slot in self.slots.items():
            if op != op_hash:
                continue
            host = state.inventory.get_host(name)
            meta = state.get_op_data_for_host(host, op_hash).operation_meta
            if not meta.is_complete():
                continue
            key = (slot.label, slot.step)
            if meta.did_error():
                output = meta.stderr_lines or meta.stdout_lines
                self.events.emit(
                    host=slot.label,
                    step=slot.step,
                    status="failed",
                    output=[str(line) for line in output][-_OUTPUT_LINES:],
                    commands=[str(c) for c in (meta._commands or [])][-3:],
                )
                continue
            self.changed[key] = self.changed.get(key, False) or meta.did_change()
            if slot.last:
                status = "changed" if self.changed[key] else "unchanged"
                self.events.emit(host=slot.label, step=slot.step, status=status)


def _add_ops(
    state: State, host: Any, steps: list[dict[str, Any]], sudo: bool
) -> dict[str, tuple[str, int, int]]:
    """Add every operation of one host; return op hash -> (step, index, count).

    `when_changed: [i, ...]` runs an operation only if operation i of the same step
    changed something (a reload after its configuration file changed).
    """
    added: dict[str, tuple[str, int, int]] = {}
    for step in steps:
        per_op: list[list[Any]] = []
        calls = []
        for op in step["ops"]:
            when = op.get("when_changed") or []
            watched = [meta for i in when if i < len(per_op) for meta in per_op[i]]
            extra = {"_if": [_any_changed(watched)]} if when else {}
            metas = []
            for function, args in _expand(op, host, state, sudo):
                args = {"_sudo": sudo, **args}
                result = add_op(state, function, host=host, **args, **extra)
                if when:
                    CONDITIONS[(host.name, result[host]._hash)] = watched
                metas.append(result[host])
                calls.append(result[host])
            per_op.append(metas)
        for index, meta in enumerate(calls):
            added[meta._hash] = (step["name"], index, len(calls))
    return added


def _any_changed(metas: list[Any]) -> Callable[[], bool]:
    return lambda: any(meta.did_change() for meta in metas)


def _expand(
    op: dict[str, Any], host: Any, state: State, sudo: bool
) -> list[tuple[Any, dict[str, Any]]]:
    """One plan operation as pyinfra operations (function, keyword arguments)."""
    kind = op["op"]
    calls: list[tuple[Any, dict[str, Any]]]
    if kind == "apt":
        with ctx_state.use(state), ctx_host.use(host):
            installed = host.get_fact(DebPackages) or {}
        missing = [p for p in op["packages"] if p not in installed]
        # refresh the package lists only when something is to be installed
        calls = [(apt.update, {"name": "apt-get update"})] if missing else []
        calls.append(
            (
                apt.packages,
                {"name": "packages", "packages": missing or op["packages"], "no_recommends": True},
            )
        )
    elif kind == "user":
        calls = [
            (
                server.user,
                {
                    "name": f"user {op['name']}",
                    "user": op["name"],
                    "home": op["home"],
                    "shell": "/bin/bash",
                    "public_keys": op["keys"] or None,
                },
            )
        ]
    elif kind == "directory":
        calls = [
            (
                files.directory,
                {
                    "name": op["path"],
                    "path": op["path"],
                    "user": op["user"],
                    "group": op["user"],
                    "mode": op["mode"],
                },
            )
        ]
    elif kind == "file":
        put = {
            "name": op["path"],
            "src": io.StringIO(op["content"]),
            "dest": op["path"],
            "mode": op["mode"],
            "user": op["user"],
            "group": op["user"],
        }
        calls = []
        if op.get("secret") and sudo:
            with ctx_state.use(state), ctx_host.use(host):
                private = f"{host.get_fact(Home)}/{SECRET_UPLOADS}"
            directory = {"name": private, "path": private, "mode": "700", "_sudo": False}
            calls.append((files.directory, directory))
            put["_temp_dir"] = private
        calls.append((files.put, put))
    elif kind == "absent":
        remove = files.link if op.get("link") else files.file
        calls = [(remove, {"name": f"no {op['path']}", "path": op["path"], "present": False})]
    elif kind == "link":
        calls = [(files.link, {"name": op["path"], "path": op["path"], "target": op["target"]})]
    elif kind == "upload":
        calls = [(files.put, {"name": op["dest"], "src": op["src"], "dest": op["dest"],
                              "mode": "644"})]  # fmt: skip
    elif kind == "unpack":
        calls = [(unpack, {"name": f"unpack {op['dest']}", "archive": op["archive"],
                "digest": op["digest"],
                           "dest": op["dest"]})]  # fmt: skip
    elif kind == "venv":
        calls = [
            (pip.venv, {"name": f"venv {op['path']}", "path": op["path"], "python": "python3"})
        ]
    elif kind == "pip":
        calls = [
            (
                pip.packages,
                {
                    "name": "pip install",
                    "packages": op["packages"],
                    "virtualenv": op["venv"],
                    "extra_install_args": f"--no-index --find-links {op['find_links']}",
                },
            )
        ]
    elif kind == "keygen":
        calls = [(keygen, {"name": f"key {op['path']}", "path": op["path"], "user": op["user"],
                           "comment": op["comment"]})]  # fmt: skip
    elif kind == "service":
        calls = _service(op)
    elif kind == "command":
        calls = [(server.shell, {"name": " ".join(op["argv"]), "commands": [_quote(op["argv"])]})]
    else:
        raise ValueError(f"unknown operation kind {kind!r}")
    return calls


def _service(op: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    if not op["systemd"]:  # no systemd running (a container, a chroot): enable only
        return [
            (
                files.link,
                {
                    "name": f"enable {op['name']}",
                    "path": op["wants_link"],
                    "target": op["unit_path"],
                },
            )
        ]
    return [(systemd.service, systemd_service_arguments(op))]


def _quote(argv: list[str]) -> str:
    return shlex.join(argv)


def _inventory(plan: dict[str, Any]) -> Inventory:
    ssh = plan.get("ssh", {})
    hosts: list[tuple[str, dict[str, Any]]] = []
    for entry in plan["hosts"]:
        data: dict[str, Any] = {
            "label": entry["label"],
            "ssh_hostname": entry["hostname"],
            "ssh_port": entry["port"],
            "ssh_user": entry["user"],
            "ssh_strict_host_key_checking": "yes",
            "ssh_known_hosts_file": ssh["known_hosts"],
            "ssh_paramiko_connect_kwargs": {"timeout": ssh.get("connect_timeout", 10)},
        }
        if ssh.get("identity_file"):
            data["ssh_key"] = ssh["identity_file"]
        if ssh.get("config_file"):
            data["ssh_config_file"] = ssh["config_file"]
        hosts.append((f"{entry['label']}#{len(hosts)}", data))
    return Inventory((hosts, {}))  # type: ignore[no-untyped-call]


def main(stdin: IO[str], events: _Events) -> int:
    plan = json.load(stdin)
    check = bool(plan["check"])
    config = Config(FAIL_PERCENT=100)  # type: ignore[no-untyped-call]
    state = State(_inventory(plan), config)
    slots: dict[tuple[str, str], _Slot] = {}
    progress = _Progress(events, slots)
    state.add_callback_handler(progress)  # type: ignore[no-untyped-call]
    try:
        connect_all(state)
    except PyinfraError as exc:
        events.emit(host="*", step="connect", status="failed", output=[str(exc)])
    by_label = {entry["label"]: entry for entry in plan["hosts"]}
    for host in state.inventory.get_active_hosts():
        entry = by_label[host.data.get("label")]
        added = _add_ops(state, host, entry["steps"], entry["sudo"])
        for op_hash, (step, index, count) in added.items():
            last = index == count - 1
            slots[(host.name, op_hash)] = _Slot(entry["label"], step, index == 0, last)
    if check:
        _report_check(state, slots, events)
    else:
        try:
            run_ops(state)
        except PyinfraError as exc:
            print(f"pyinfra: {exc}", file=sys.stderr)
    _report_keys(state, by_label, events)
    events.emit(done=True)
    return 0


def _report_keys(state: State, by_label: dict[str, Any], events: _Events) -> None:
    """The public line of each `keygen` key that is there now (for setup's `next:`)."""
    for host in state.inventory.get_active_hosts():
        entry = by_label[host.data.get("label")]
        for step in entry["steps"]:
            for op in step["ops"]:
                if op["op"] != "keygen":
                    continue
                with ctx_state.use(state), ctx_host.use(host):
                    try:
                        lines = host.get_fact(
                            FileContents, path=f"{op['path']}.pub", _sudo=entry["sudo"]
                        )
                    except PyinfraError as exc:
                        print(f"pyinfra: reading {op['path']}.pub: {exc}", file=sys.stderr)
                        continue
                for line in lines or []:
                    if line.strip():
                        events.emit(host=entry["label"], step=step["name"], public_key=line.strip())


def _report_check(state: State, slots: dict[tuple[str, str], _Slot], events: _Events) -> None:
    """pyinfra's dry run: which steps would change, host by host; nothing runs.

    Like `pyinfra --dry`, an operation is judged on the host as it is now, so one that
    depends on an earlier change (a file owned by a user not created yet) may differ.
    """
    for host in state.inventory.get_active_hosts():
        would: dict[tuple[str, str], list[str]] = {}
        for op_hash in state.get_op_order():  # type: ignore[no-untyped-call]
            slot = slots.get((host.name, op_hash))
            if slot is None:
                continue
            changes = would.setdefault((slot.label, slot.step), [])
            meta = state.get_op_data_for_host(host, op_hash).operation_meta
            with ctx_state.use(state), ctx_host.use(host):
                try:
                    watched = CONDITIONS.get((host.name, op_hash))
                    if watched is not None:
                        if any(other.will_change for other in watched):
                            changes.extend(sorted(state.get_op_meta(op_hash).names))
                    elif meta.will_change:
                        changes.extend(sorted(state.get_op_meta(op_hash).names))
                except Exception as exc:  # a fact that needs an earlier change
                    changes.append(f"{', '.join(state.get_op_meta(op_hash).names)} ({exc})")
        for (label, step), changes in would.items():
            status = "would-change" if changes else "unchanged"
            events.emit(host=label, step=step, status=status, changes=changes)


if __name__ == "__main__":
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever pyinfra prints goes to stderr, not among the events
    sys.stdout = sys.stderr
    sys.exit(main(sys.stdin, _Events(out)))
