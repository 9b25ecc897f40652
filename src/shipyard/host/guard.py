"""A host-local mutex around slot changes, shared by host operations and the reaper."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.plan.layout import Layout


@contextmanager
def slot_guard(layout: Layout) -> Iterator[None]:
    with open(layout.run / "slots.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
