"""Every host operation, grouped by phase; `HANDLERS` maps each name to its function.

Each module defines the functions for its operations: `fn(ctx, request) -> reply`, with
the request and reply types of `shipyard.protocol` (where each is documented).
"""

from __future__ import annotations

from typing import Any

from shipyard.host.operations import (
    backup,
    boot,
    inspect,
    maintenance,
    observe,
    prepare,
    records,
    switch,
)
from shipyard.host.operations.handler import Handler

HANDLERS: dict[str, Handler[Any, Any]] = {
    handler.op.name: handler
    for module in (records, inspect, prepare, boot, switch, observe, maintenance, backup)
    for handler in module.HANDLERS
}
