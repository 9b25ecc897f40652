"""The deployment record on the primary: opened at the start, updated as phases pass,
closed with the outcome. Every error text in it is redacted."""

from __future__ import annotations

import contextlib
from typing import Any

from shipyard.execute.observers import RecordObserver
from shipyard.execute.session import Session
from shipyard.protocol.common import DeploymentStart
from shipyard.protocol.records import (
    RECORD_START,
    RECORD_UPDATE,
    RecordStartRequest,
    RecordUpdateRequest,
)


class Recorder:
    def __init__(self, session: Session, deployment_id: str) -> None:
        self.session = session
        self.deployment_id = deployment_id
        self.opened: DeploymentStart | None = None

    async def start(self, start: DeploymentStart) -> None:
        await self.session.primary.call(RECORD_START, RecordStartRequest(deployment=start))
        self.opened = start
        for observer in self._record_observers():
            with contextlib.suppress(Exception):
                observer.record_started(self.session.env.name, start)

    def _record_observers(self) -> list[RecordObserver]:
        return [o for o in self.session.observers if isinstance(o, RecordObserver)]

    async def update(
        self,
        *,
        outcome: str | None = None,
        error: str | None = None,
        previous_release_id: str | None = None,
        analysis: dict[str, Any] | None = None,
        checks: dict[str, Any] | None = None,
        backups: list[Any] | None = None,
        finished: bool = False,
    ) -> None:
        """Record the phase timings so far and any of the fields given."""
        await self.session.primary.call(
            RECORD_UPDATE,
            RecordUpdateRequest(
                deployment_id=self.deployment_id,
                phases=dict(self.session.timings),
                outcome=outcome,
                error=self.session.redact(error) if error else error,
                previous_release_id=previous_release_id,
                analysis=analysis,
                checks=checks,
                finished=finished,
                backups=backups,
            ),
        )

    async def finish(self, outcome: str, error: str | None = None, **fields: Any) -> None:
        await self.update(outcome=outcome, error=error, finished=True, **fields)
        if self.opened is None:
            return
        shown = self.session.redact(error) if error else error
        for observer in self._record_observers():
            with contextlib.suppress(Exception):
                observer.record_finished(self.session.env.name, self.opened, outcome, shown)
