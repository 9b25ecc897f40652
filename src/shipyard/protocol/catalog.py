"""Every host operation, by name (`CATALOG`).

Its own module so that importing one part of the protocol (the codec, a request type)
does not import every operation's types.
"""

from __future__ import annotations

from typing import Any

from shipyard.protocol import (
    backup,
    backup_schedule,
    boot,
    drills,
    inspect,
    lock,
    maintenance,
    observe,
    prepare,
    records,
    resources,
    switch,
    tls,
)
from shipyard.protocol.op import Op

CATALOG: dict[str, Op[Any, Any]] = {
    op.name: op
    for op in (
        records.HELLO,
        lock.LOCK_ACQUIRE,
        lock.LOCK_REFRESH,
        lock.LOCK_RELEASE,
        lock.LOCK_STATUS,
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
        resources.RESOURCES,
        resources.FACTS,
        tls.TLS_CHALLENGE,
        tls.TLS_INSTALL,
        tls.TLS_INSPECT,
        tls.TLS_CSR,
        drills.DRILL_RECORD,
        drills.DRILL_LIST,
        backup_schedule.BACKUP_SCHEDULE_INSTALL,
        drills.DRILL_DATABASE,
        drills.DRILL_TEARDOWN,
    )
}
