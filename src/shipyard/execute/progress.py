"""Phase events recorded on the primary as they happen, for live views of a deploy.

An observer that queues every host's phase events and sends them to the primary in
batches (`record-progress`) from one background task, so a deploy never waits on it;
`shipyard serve` reads them back with the `events` operation.
"""

from __future__ import annotations

import asyncio
import contextlib

from shipyard.execute.hostclient import Host, HostError
from shipyard.protocol.records import RECORD_PROGRESS, PhaseEvent, RecordProgressRequest


class ProgressRecorder:
    def __init__(self, primary: Host, deployment_id: str) -> None:
        self.primary = primary
        self.deployment_id = deployment_id
        self._pending: list[PhaseEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def phase_event(self, host: str, phase: str, status: str, detail: str) -> None:
        self._pending.append(PhaseEvent(host=host, phase=phase, status=status, detail=detail))
        self._wake.set()

    def phase_done(self, phase: str) -> None:
        pass

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not (self._closing and not self._pending):
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                with contextlib.suppress(HostError):  # a live view is never worth a failure
                    await self.primary.call(
                        RECORD_PROGRESS,
                        RecordProgressRequest(deployment_id=self.deployment_id, events=batch),
                    )

    async def stop(self) -> None:
        """Send what is queued, then end the background task."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=10)
        self._task = None
