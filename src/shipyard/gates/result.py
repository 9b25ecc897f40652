"""What a gate says: its status, how long it took, a summary and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from shipyard.errors import ExitCode, ShipyardError

Status = Literal["pass", "fail", "unknown", "skipped"]
Kind = Literal["command", "pip-audit", "bandit"]


@dataclass(frozen=True)
class GateVerdict:
    """What parsing a tool's output concluded, before it is timed and named."""

    status: Status
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    name: str
    kind: Kind
    status: Status
    duration_s: float
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    on_unknown: Literal["fail", "warn"] = "fail"

    @property
    def ok(self) -> bool:
        """Whether this result lets a deploy go on: pass, skipped, or unknown with warn."""
        if self.status in ("pass", "skipped"):
            return True
        return self.status == "unknown" and self.on_unknown == "warn"

    @property
    def warning(self) -> bool:
        return self.status == "unknown" and self.on_unknown == "warn"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "ok": self.ok,
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary,
            "on_unknown": self.on_unknown,
            "details": self.details,
        }

    @classmethod
    def from_verdict(
        cls,
        name: str,
        kind: Kind,
        verdict: GateVerdict,
        duration_s: float,
        on_unknown: Literal["fail", "warn"] = "fail",
    ) -> GateResult:
        return cls(
            name=name,
            kind=kind,
            status=verdict.status,
            duration_s=duration_s,
            summary=verdict.summary,
            details=verdict.details,
            on_unknown=on_unknown,
        )


@dataclass(frozen=True)
class GatesReport:
    results: list[GateResult]
    duration_s: float

    @property
    def passed(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def blocking(self) -> list[GateResult]:
        return [result for result in self.results if not result.ok]

    @property
    def warnings(self) -> list[GateResult]:
        return [result for result in self.results if result.warning]

    def describe(self) -> str:
        """One line: how many gates passed, or which stopped the release."""
        if not self.passed:
            return "gates failed: " + ", ".join(
                f"{result.name} ({result.status})" for result in self.blocking
            )
        counts = {
            status: sum(1 for r in self.results if r.status == status)
            for status in ("pass", "skipped", "unknown")
        }
        said = [f"{n} {status}" for status, n in counts.items() if n]
        warned = " (unknown ones warn only)" if counts["unknown"] else ""
        return f"gates passed: {', '.join(said) or 'none configured'}{warned}"

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "duration_s": round(self.duration_s, 3),
            "gates": [result.to_json() for result in self.results],
        }


class GatesFailed(ShipyardError):
    """A gate failed (or could not run and fails closed): nothing may be built or shipped."""

    exit_code = ExitCode.GATES

    def __init__(self, report: GatesReport) -> None:
        super().__init__(
            report.describe(),
            hint="nothing was deployed; run `shipyard gates` to see every finding",
        )
        self.report = report
