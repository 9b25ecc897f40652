"""The typed protocol between the operator and the host agent.

One frozen dataclass per operation's request and reply (the modules here, grouped by
phase), encoded as one JSON line each way by `codec`. `CATALOG` lists every operation;
the agent decodes requests with it at its boundary, the operator decodes replies.
"""

from __future__ import annotations

from typing import Any

from shipyard.protocol import (
    backup,
    boot,
    inspect,
    maintenance,
    observe,
    prepare,
    records,
    switch,
)
from shipyard.protocol.op import Op

CATALOG: dict[str, Op[Any, Any]] = {
    op.name: op
    for op in (
        records.HELLO,
        records.LOCK_ACQUIRE,
        records.LOCK_REFRESH,
        records.LOCK_RELEASE,
        records.LOCK_STATUS,
        records.RECORD_START,
        records.RECORD_UPDATE,
        records.RECORD_PROGRESS,
        records.HISTORY,
        records.EVENTS,
        records.APPROVAL_LIST,
        records.APPROVAL_ADD,
        records.RELEASES,
        records.SET_RELEASE_STATUS,
        inspect.STATUS,
        inspect.LOGS,
        prepare.PREPARE,
        prepare.RELEASE_COMMAND,
        prepare.PROXY,
        boot.BOOT,
        boot.CHECK,
        switch.SWITCH,
        switch.VERIFY,
        observe.OBSERVE_SAMPLE,
        maintenance.REPAIR,
        maintenance.STOP_SLOT,
        maintenance.RETIRE,
        maintenance.CLEANUP,
        maintenance.SHUTDOWN,
        backup.BACKUP_RUN,
        backup.BACKUP_LIST,
        backup.BACKUP_VERIFY,
        backup.BACKUP_RESTORE,
        backup.BACKUP_PRUNE,
        backup.BACKUP_STATS,
    )
}
