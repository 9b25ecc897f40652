"""Pure decisions of the live-events record: which phase events go to the primary next.

A deploy's phase events wait here until the recorder sends them (`record-progress`, on
the primary's lane). They leave in the order they happened, in batches of at most
`MAX_BATCH`; a batch the primary did not take goes back in front of what came since,
so a retry keeps the order. The queue is bounded: past `MAX_PENDING` (a primary that
cannot be reached for a long deploy), the oldest events that are not failures are
dropped first and counted, so a failure and its evidence are the last to go.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shipyard.protocol.records import PhaseEvent

MAX_BATCH = 200  # events per record-progress request
MAX_PENDING = 5000  # events kept while the primary does not take them


@dataclass
class ProgressQueue:
    max_pending: int = MAX_PENDING
    max_batch: int = MAX_BATCH
    pending: list[PhaseEvent] = field(default_factory=list)
    dropped: int = 0  # events never recorded because the queue was full

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, event: PhaseEvent) -> None:
        self.pending.append(event)
        self._bound()

    def take(self) -> list[PhaseEvent]:
        """The next batch, oldest first (removed from the queue)."""
        batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
        return batch

    def put_back(self, batch: Iterable[PhaseEvent]) -> None:
        """A batch that was not recorded: first in line again, in its own order."""
        self.pending[:0] = list(batch)
        self._bound()

    def _bound(self) -> None:
        excess = len(self.pending) - self.max_pending
        if excess <= 0:
            return
        keep: list[PhaseEvent] = []
        for event in self.pending:
            if excess > 0 and event.status != "failed":
                excess -= 1
                self.dropped += 1
            else:
                keep.append(event)
        while excess > 0:  # nothing but failures: the oldest of them go
            keep.pop(0)
            excess -= 1
            self.dropped += 1
        self.pending = keep
