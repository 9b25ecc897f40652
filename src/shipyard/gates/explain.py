"""Pure: the evidence behind a gate's result, as lines for a person to read."""

from __future__ import annotations

from typing import Any

from shipyard.gates.result import GateResult

MAX_LINES = 20


def explain(result: GateResult) -> list[str]:
    """What to look at for a gate that did not pass: findings, unaudited packages, output."""
    details = result.details
    lines: list[str] = []
    if result.kind == "pip-audit":
        for vuln in details.get("vulnerabilities", []):
            also = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            lines.append(
                f"{vuln['package']} {vuln['version']}: {vuln['id']}{also}, fixed in {fixed}"
                + (f": {vuln['description']}" if vuln.get("description") else "")
            )
        for entry in details.get("not_audited", []):
            lines.append(f"{entry['name']}: not audited: {entry['reason']}")
    elif result.kind == "bandit":
        for finding in details.get("findings", []):
            lines.append(
                f"{finding['file']}:{finding['line']} {finding['test_id']} "
                f"severity {finding['severity'].lower()}, confidence "
                f"{finding['confidence'].lower()}: {finding['text']}"
            )
        for error in details.get("errors", []):
            lines.append(f"{error['file']}: not scanned: {error['reason']}")
    lines += _tail(details)
    return lines[:MAX_LINES] + (
        [f"... {len(lines) - MAX_LINES} more (see --json)"] if len(lines) > MAX_LINES else []
    )


def _tail(details: dict[str, Any]) -> list[str]:
    text = details.get("output_tail") or details.get("stderr_tail") or ""
    return [f"| {line}" for line in str(text).rstrip().splitlines()[-10:]]
