"""Every host operation, grouped by phase; `handler_for(name)` finds one's function.

Each module defines the functions for its operations: `fn(ctx, request) -> reply`, with
the request and reply types of `shipyard.protocol` (where each is documented). A module
is imported when one of its operations is first asked for, so the agent answers `hello`
without loading what a deploy's other phases need (tarfile, XML-RPC, nginx...).
"""

from __future__ import annotations

import importlib
from typing import Any

from shipyard.host.operations.handler import Handler

MODULES: dict[str, tuple[str, ...]] = {
    "records": (
        "hello",
        "lock-status",
        "lock-acquire",
        "lock-refresh",
        "lock-release",
        "record-start",
        "record-update",
        "record-progress",
        "history",
        "events",
        "approval-list",
        "approval-add",
        "releases",
        "set-release-status",
    ),
    "inspect": ("status", "logs"),
    "prepare": ("prepare", "release-command", "proxy"),
    "boot": ("boot", "check"),
    "switch": ("switch", "verify"),
    "observe": ("observe-sample",),
    "maintenance": ("repair", "stop-slot", "retire", "cleanup", "shutdown"),
    "backup": (
        "backup-run",
        "backup-list",
        "backup-verify",
        "backup-restore",
        "backup-prune",
        "backup-stats",
    ),
    "resources": ("resources", "facts"),
    "tls": ("tls-challenge", "tls-install", "tls-inspect", "tls-csr"),
    "drills": ("drill-record", "drill-list", "drill-database", "drill-teardown"),
    "backup_schedule": ("backup-schedule-install",),
}
MODULE_OF = {name: module for module, names in MODULES.items() for name in names}


def module_handlers(module: str) -> list[Handler[Any, Any]]:
    handlers: list[Handler[Any, Any]] = importlib.import_module(
        f"shipyard.host.operations.{module}"
    ).HANDLERS
    return handlers


def handler_for(name: str) -> Handler[Any, Any] | None:
    """The handler of operation `name`, importing its module on first use; None if unknown."""
    module = MODULE_OF.get(name)
    if module is None:
        return None
    return next((h for h in module_handlers(module) if h.op.name == name), None)


def all_handlers() -> dict[str, Handler[Any, Any]]:
    """Every operation's handler (imports every module)."""
    return {h.op.name: h for module in MODULES for h in module_handlers(module)}
