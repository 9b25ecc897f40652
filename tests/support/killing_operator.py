"""The real `shipyard` CLI, with one phase observer injected: it SIGKILLs this very
process right after a chosen phase finished on every host (a lost laptop, an OOM kill,
a cancelled CI runner), for the crash-safety tests.

    python tests/support/killing_operator.py PHASE deploy ENV ...
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from shipyard.cli.main import run


class KillAfter:
    def __init__(self, phase: str) -> None:
        self.phase = phase

    def phase_event(self, host: str, phase: str, status: str, detail: str, **evidence: Any) -> None:
        pass

    def phase_done(self, phase: str) -> None:
        if phase == self.phase:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    target = sys.argv.pop(1)
    sys.argv[0] = "shipyard"
    run(observers=[KillAfter(target)])
