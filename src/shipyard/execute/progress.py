"""Phase events recorded on the primary as they happen, for live views of a deploy.

An observer that queues every host's phase events (with a failure's probes and log
lines) and sends them to the primary (`record-progress`) from one background task, so a
deploy never waits on it; `shipyard serve` reads them back with the `events` operation.

They travel on the primary's lane (`Host.lane()`: a second agent session on the same
connection), never on the channel the phases themselves use: there a phase's start
would queue behind the phase's own long operation (a build, a health check, a
pre-switch command) and reach the live view only when that phase had ended. What is
sent next, and what happens to a batch the primary did not take, is decided in
`plan/progress_queue.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

from shipyard.execute.hostclient import Host, HostError
from shipyard.plan.progress_queue import ProgressQueue
from shipyard.protocol.common import Probe
from shipyard.protocol.records import RECORD_PROGRESS, PhaseEvent, RecordProgressRequest

SEND_TIMEOUT = 30.0  # one record-progress call; a live view is never worth a hang
RETRY_AFTER = 1.0  # seconds before a batch the primary did not take is sent again


class ProgressRecorder:
    def __init__(self, primary: Host, deployment_id: str) -> None:
        self.primary = primary
        self.deployment_id = deployment_id
        self.queue = ProgressQueue()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def phase_event(
        self,
        host: str,
        phase: str,
        status: str,
        detail: str,
        *,
        probes: Sequence[Probe] = (),
        log_tail: Sequence[str] = (),
    ) -> None:
        event = PhaseEvent(
            host=host,
            phase=phase,
            status=status,
            detail=detail,
            at=time.time(),
            probes=list(probes),
            log_tail=list(log_tail),
        )
        self.queue.add(event)
        self._wake.set()

    def phase_done(self, phase: str) -> None:
        pass

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        lane = self.primary.lane()
        while not (self._closing and not self.queue):
            await self._wake.wait()
            self._wake.clear()
            while batch := self.queue.take():
                try:
                    await lane.call(
                        RECORD_PROGRESS,
                        RecordProgressRequest(deployment_id=self.deployment_id, events=batch),
                        timeout=SEND_TIMEOUT,
                    )
                except HostError:  # a live view is never worth a failure: later, once more
                    self.queue.put_back(batch)
                    if self._closing:
                        return
                    await asyncio.sleep(RETRY_AFTER)

    async def stop(self) -> None:
        """Send what is queued, then end the background task."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, timeout=10)
        self._task = None
