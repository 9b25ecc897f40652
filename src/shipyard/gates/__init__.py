"""Quality gates: checks that must pass before a release is built and shipped.

The configured commands, pip-audit on the app's locked requirements and bandit on its
source. Each gate ends pass, fail, unknown (it could not run: fails closed unless
`on_unknown: warn`) or skipped (nothing to check). See docs/gates.md.
"""

from shipyard.gates.explain import explain
from shipyard.gates.result import GateResult, GatesFailed, GatesReport
from shipyard.gates.runner import result_line, run_gates, run_gates_for

__all__ = [
    "GateResult",
    "GatesFailed",
    "GatesReport",
    "explain",
    "result_line",
    "run_gates",
    "run_gates_for",
]
