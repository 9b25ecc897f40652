"""How long each piece of a host operation took (wall seconds, by name): recorded with
the operation's event and returned in its reply, so a slow backup or restore says where
its time went."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Pieces:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Add the time spent in the block to `name` (even when it raises)."""
        started = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + spent, 3)
